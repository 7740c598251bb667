"""Identifiers. Random ids are minted once, at the edge; everything after derives from them,
so replaying the log or redelivering a message yields the same ids."""

import hashlib
import secrets


def new_id(prefix: str) -> str:
    """A fresh OpenAI-style id such as ``resp_3f1c…``."""
    return f"{prefix}_{secrets.token_hex(24)}"


def derived_id(prefix: str, *parts: object) -> str:
    """A deterministic id from its parents, e.g. ``derived_id("msg", response_id, 0)``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:48]
    return f"{prefix}_{digest}"


def tenant_of_key(api_key: str) -> str:
    """The owner recorded for a client key; a one-way hash, so the key itself never enters an event."""
    return "key_" + hashlib.sha256(api_key.encode()).hexdigest()[:24]


ANONYMOUS_TENANT = "anonymous"

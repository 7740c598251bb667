"""Sealing content with a response's own data key, and data keys with the master key. Pure: no I/O.

Every content field of an event (inputs, outputs, the chat body, errors from a backend) is sealed
with AES-256-GCM under a data key of its response; the data key is stored wrapped (AES-256-GCM again)
by the master key. Destroying the wrapped data key makes every copy of that content unreadable: the
log, its backups, any rebuild. That is how a deletion erases (crypto-shredding).

A sealed value is ``{"sealed": "<base64: 12-byte nonce | ciphertext+tag>"}``; the response id is the
associated data, so a ciphertext moved onto another response's event does not open.
"""

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pydantic_core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
KEY_BYTES = 32
SEALED = "sealed"


class SealingError(Exception):
    """A value or a wrapped key did not open: wrong key, or tampered with."""


@dataclass(frozen=True)
class MasterKeys:
    """The master key that wraps new data keys, and retired ones still accepted for unwrapping while
    keys are re-wrapped (rotation)."""

    current: bytes
    retired: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for key in (self.current, *self.retired):
            if len(key) != KEY_BYTES:
                raise ValueError(f"a master key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")

    # Named once: every response's data key is wrapped or unwrapped with these names.
    @cached_property
    def current_id(self) -> str:
        return key_id(self.current)

    @cached_property
    def by_id(self) -> dict[str, bytes]:
        return {key_id(k): k for k in (self.current, *self.retired)}


def key_id(key: bytes) -> str:
    """A public name for a master key, stored beside what it wrapped; reveals nothing of the key."""
    return hashlib.sha256(b"rgw-master-key-id:" + key).hexdigest()[:16]


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def wrap(master: MasterKeys, data_key: bytes, *, response_id: str) -> dict[str, str]:
    """The stored form of a data key: which master key wrapped it, and the wrapped key."""
    return {"kid": master.current_id, "wrapped": _encrypt(master.current, data_key, response_id)}


def unwrap(master: MasterKeys, stored: Mapping[str, str], *, response_id: str) -> bytes:
    key = master.by_id.get(stored.get("kid", ""))
    if key is None:
        raise SealingError("the data key was wrapped by a master key this process does not have")
    return _decrypt(key, stored["wrapped"], response_id)


def seal(data_key: bytes, value: Any, *, response_id: str) -> dict[str, str]:
    """``value``: JSON-shaped data or a pydantic model (an event's field as it is)."""
    return {SEALED: _encrypt(data_key, _json(value), response_id)}


def open_sealed(data_key: bytes, sealed: Mapping[str, str], *, response_id: str) -> Any:
    plain = _decrypt(data_key, sealed[SEALED], response_id)
    try:
        return pydantic_core.from_json(plain)
    except ValueError:  # an escaped lone surrogate (see _json), which only json reads
        return json.loads(plain)


def _json(value: Any) -> bytes:
    """pydantic-core's encoder: a quarter of ``json.dumps``'s time on a request carrying an agent's
    tools, which every service seals or opens. Text with a lone surrogate has no UTF-8 form, and a
    backend's error may carry one: ``json`` escapes it."""
    try:
        return pydantic_core.to_json(value)
    except pydantic_core.PydanticSerializationError:
        plain = pydantic_core.to_jsonable_python(value)
        return json.dumps(plain, separators=(",", ":")).encode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(SEALED), str)


def _encrypt(key: bytes, plain: bytes, associated: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, associated.encode())).decode()


def _decrypt(key: bytes, blob: str, associated: str) -> bytes:
    raw = base64.b64decode(blob)
    try:
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated.encode())
    except InvalidTag as error:
        raise SealingError("sealed content did not open with its key") from error


def master_keys_from(environ: Mapping[str, str]) -> MasterKeys:
    """``GATEWAY_MASTER_KEY`` (base64) or ``GATEWAY_MASTER_KEY_FILE``; retired ones, comma-separated, in
    ``GATEWAY_RETIRED_MASTER_KEYS``. Raises ``ValueError`` with the reason when none is usable: a
    gateway without its master key must not start."""
    encoded = environ.get("GATEWAY_MASTER_KEY", "").strip()
    if not encoded and (path := environ.get("GATEWAY_MASTER_KEY_FILE")):
        try:
            with open(path) as file:
                encoded = file.read().strip()
        except OSError as error:
            raise ValueError(f"GATEWAY_MASTER_KEY_FILE {path!r} cannot be read: {error.strerror}") from None
    if not encoded:
        raise ValueError(
            "no master key: set GATEWAY_MASTER_KEY (base64 of 32 random bytes, e.g. "
            "`python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`) "
            "or GATEWAY_MASTER_KEY_FILE"
        )
    retired = [k for k in environ.get("GATEWAY_RETIRED_MASTER_KEYS", "").split(",") if k.strip()]
    try:
        return MasterKeys(_b64(encoded), tuple(_b64(k) for k in retired))
    except ValueError as error:
        raise ValueError(f"master key unusable: {error}") from None


def _b64(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        raise ValueError("not valid base64") from None

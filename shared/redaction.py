"""Credentials out of text that came from outside the gateway (a backend's error body) before it
reaches a client, an event or a log. Pure. It errs towards redacting: a lost word of an error message
costs less than a leaked key."""

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# An authorization scheme keeps its name and loses its credential.
_BEARER = re.compile(r"\b(bearer\s+)[^\s\"',;]+", re.IGNORECASE)
_BASIC = re.compile(r"\b(Basic\s+)[A-Za-z0-9+/]{8,}=*")
# `api_key=...`, `"x-api-key": "..."`, `password: ...`: any name ending like one that holds a secret.
_ASSIGNED = re.compile(
    r"\b([\w-]*(?:key|token|secret|password|passwd|credentials?|authorization))"
    r"([\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+",
    re.IGNORECASE,
)
# The user and password of a URL.
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
# Key shapes of the common providers, short ones included: OpenAI and Anthropic (`sk-`), Stripe-like
# `pk_`/`rk_`, Groq, Hugging Face, GitHub, Slack, Replicate, Fireworks, xAI, AWS access keys, Google;
# and JSON web tokens.
_KEY_SHAPES = re.compile(
    r"\b(?:(?:sk|pk|rk|gsk|hf|gh[pousr]|github_pat|xox[abprs]|r8|fw|xai)[-_][\w\-.*]{4,}"
    r"|AKIA[0-9A-Z]{16}|AIza[\w-]{30,}|eyJ[\w-]+\.[\w-]+(?:\.[\w-]*)?)",
)
# Long runs of base64 or hex mixing digits and letters: keys of unknown shape, tokens, signatures.
_LONG_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and anything shaped like a credential replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _BASIC.sub(rf"\1{REDACTED}", text)
    text = _ASSIGNED.sub(rf"\1\2{REDACTED}", text)
    text = _USERINFO.sub(f"{REDACTED}@", text)
    text = _KEY_SHAPES.sub(REDACTED, text)
    return _LONG_RUN.sub(_mixed_run, text)


def _mixed_run(match: re.Match[str]) -> str:
    run = match.group()
    mixed = any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
    return REDACTED if mixed else run


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a space where the text is longer, so no half of a
    credential survives that redaction would have recognised whole."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    return head[: head.rfind(" ")] if " " in head else ""

"""What a request's JSON must satisfy so that every hop holds it as sent: the NATS message, the backend
call and, above all, the MongoDB document (BSON) the store writes.

JSON itself allows more than BSON: integers of any size, ``NaN`` and ``1e400`` (Python's parsers read
them as floats), keys with a NUL byte (BSON keys are C strings), and unbounded nesting; Python's
``json`` also turns a ``"\\ud800"`` escape into a lone surrogate, which no UTF-8 encoder accepts. A
value that passes here encodes with ``bson.encode`` and serialises to JSON unchanged.

Vendor fields (top-level fields outside OpenAI's schema, forwarded to the backend) also may not use
keys starting with ``$``: those are MongoDB operators, and no chat backend's option is spelled so.
Fields of OpenAI's schema may (a JSON Schema's ``$ref`` and ``$defs`` are everyday).
"""

import math
import re
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The bound of counts a client sets (tokens, tool calls, rate limits): far above any real value, and
# inside what BSON and a backend's 32-bit integers hold.
MAX_COUNT = 2**31 - 1
# Levels below the request body: deep enough for any real tool or output schema, and a stored
# document (the request sits one level down in it) stays far inside MongoDB's 100 levels.
MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")

# The pydantic validation context of data read back from the log (``shared.eventlog``): it was checked
# where it came in, at the api, and walking it again was most of the cost of decoding a request.
CHECKED_BEFORE: dict[str, bool] = {"storable_checked_before": True}


def checked_before(context: Any) -> bool:
    return isinstance(context, dict) and context.get("storable_checked_before") is True


class Unstorable(ValueError):
    """Why ``value`` at ``param`` (OpenAI's parameter path, ``tools[0].parameters``) cannot be held."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"{param}: {reason}")
        self.param = param
        self.reason = reason


def check(value: Any, param: str, *, vendor: bool = False, depth: int = 1) -> None:
    """Raise ``Unstorable`` for the first part of ``value`` (found at ``param``, ``depth`` levels below
    the body) that some hop could not hold."""
    if depth > MAX_DEPTH:
        raise Unstorable(param, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise Unstorable(param, "integer out of range (must fit in a signed 64-bit integer)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Unstorable(param, "number must be finite")
    elif isinstance(value, str):
        if _SURROGATE.search(value):
            raise Unstorable(param, "string holds a lone UTF-16 surrogate, which is not valid Unicode")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_key(key, param, vendor=vendor)
            check(item, f"{param}.{key}", vendor=vendor, depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check(item, f"{param}[{index}]", vendor=vendor, depth=depth + 1)


def valid_unicode(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, as a UTF-8 decoder treats a bad sequence:
    for text the gateway did not get from a client, which it cannot refuse (a backend's stream)."""
    return _SURROGATE.sub("\ufffd", text)


def check_key(key: Any, param: str, *, vendor: bool) -> None:
    """A JSON object key: BSON stores it as a C string, MongoDB reads a leading ``$`` as an operator."""
    where = f"{param}.{key}" if param else str(key)
    if not isinstance(key, str):
        return  # not from JSON; the model's own validation names the problem
    if "\x00" in key:
        raise Unstorable(where.replace("\x00", "\\u0000"), "keys must not contain the NUL character")
    if _SURROGATE.search(key):
        raise Unstorable(param or "body", "a key holds a lone UTF-16 surrogate, which is not valid Unicode")
    if vendor and key.startswith("$"):
        raise Unstorable(where, "keys of vendor fields must not start with '$'")

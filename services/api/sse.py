"""Server-sent events as OpenAI writes them: the ``event:`` line repeats the payload's ``type``."""

import json
from typing import Any


def frame(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()

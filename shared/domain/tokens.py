"""A tokenizer-free estimate of a chat request's prompt tokens, for what must know a size without
asking the backend: ``truncation: "auto"``, and ``/v1/responses/input_tokens`` on a deployment that
declares no tokenize endpoint.

The rule, deliberately simple and slightly generous (an overestimate truncates a little early; an
underestimate sends a request the backend refuses): one token per 4 characters of text, rounded up;
4 tokens of framing per message (role and separators) and 3 to prime the reply, as OpenAI counts chat
messages; an image part 765 tokens (85 at ``detail: low``), OpenAI's price for a high-detail 1024x1024
image; a file part its data's length / 4; the tool definitions their JSON's length / 4.
"""

import json
import math
from typing import Any

Message = dict[str, Any]

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
REPLY_PRIMING = 3
IMAGE = 765
IMAGE_LOW = 85


def estimate_chat(chat: dict[str, Any]) -> int:
    """Estimated prompt tokens of a Chat Completions body: its messages and its tools."""
    return estimate_overhead(chat) + sum(estimate_message(m) for m in chat.get("messages") or [])


def estimate_overhead(chat: dict[str, Any]) -> int:
    """What the body costs besides its messages: the reply priming and the tool definitions."""
    tools = chat.get("tools")
    return REPLY_PRIMING + (_text(json.dumps(tools, separators=(",", ":"))) if tools else 0)


def estimate_message(message: Message) -> int:
    tokens = PER_MESSAGE + _content(message.get("content")) + _text(message.get("reasoning_content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        tokens += _text(function.get("name")) + _text(function.get("arguments"))
    return tokens


def _content(content: str | list[dict[str, Any]] | None) -> int:
    if content is None or isinstance(content, str):
        return _text(content)
    return sum(_part(part) for part in content)


def _part(part: dict[str, Any]) -> int:
    kind = part.get("type")
    if kind == "image_url":
        return IMAGE_LOW if (part.get("image_url") or {}).get("detail") == "low" else IMAGE
    if kind == "file":
        return _text((part.get("file") or {}).get("file_data"))
    return _text(part.get("text"))


def _text(text: str | None) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0

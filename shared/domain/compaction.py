"""``POST /v1/responses/compact`` and the ``compaction`` item it returns, over Chat Completions.

OpenAI's compaction keeps the conversation's user messages and replaces everything else (assistant
turns, tool calls and outputs, reasoning) with one opaque ``compaction`` item, which a later request
sends back as input. Here the same backend writes a summary; the item's ``encrypted_content`` carries
that summary, only encoded (the gateway holds no key, and the client owns the conversation anyway),
behind a prefix that tells it from OpenAI's real ciphertext. As input, the summary becomes a user
message, as Codex does when it compacts on a backend without server-side compaction.
"""

import base64
import binascii
from typing import Any

from shared.errors import InvalidRequest
from shared.ids import derived_id

Item = dict[str, Any]
Message = dict[str, Any]

_PREFIX = "rgw-summary-v1:"

PROMPT = (
    "You are performing a CONTEXT CHECKPOINT COMPACTION. Summarise the conversation above for another "
    "model that will continue it without seeing it: the user's goals and constraints, decisions made, "
    "what has been done (tool calls and their results that still matter), open questions and the next "
    "steps. Be complete but concise; write only the summary."
)

SUMMARY_PREFIX = (
    "Another model worked on this conversation before you and left this summary of everything before "
    "this point; continue from it:\n\n"
)


def compaction_chat(chat: dict[str, Any]) -> dict[str, Any]:
    """The chat body that asks the backend for the summary: the conversation, then the instruction.
    Tools stay out: the summariser must answer in text."""
    kept = {k: v for k, v in chat.items() if k not in ("tools", "tool_choice", "parallel_tool_calls")}
    return {**kept, "messages": [*chat["messages"], {"role": "user", "content": PROMPT}]}


def compacted_output(conversation: list[Item], summary: str, *, compaction_id: str) -> list[Item]:
    """The ``output`` of a compaction: the user messages of ``conversation`` (every input item of the
    chain, oldest first), then the compaction item holding ``summary``."""
    users = [item for item in conversation if _is_user_message(item)]
    kept = [_user_message(item, derived_id("msg", compaction_id, n)) for n, item in enumerate(users)]
    return [*kept, {"id": compaction_id, "type": "compaction", "encrypted_content": encode(summary)}]


def summary_message(item: Item) -> Message:
    """The chat message a ``compaction`` input item stands for."""
    return {"role": "user", "content": SUMMARY_PREFIX + decode(item.get("encrypted_content") or "")}


def encode(summary: str) -> str:
    # A backend's JSON may carry a lone surrogate (an escaped \udXXX): not UTF-8, so it becomes "?".
    return _PREFIX + base64.b64encode(summary.encode(errors="replace")).decode()


def decode(encrypted_content: str) -> str:
    if not encrypted_content.startswith(_PREFIX):
        raise InvalidRequest(
            "This compaction item was not produced by this gateway, which cannot read it.", param="input"
        )
    try:
        return base64.b64decode(encrypted_content.removeprefix(_PREFIX), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("The compaction item's encrypted_content is corrupt.", param="input") from None


def _is_user_message(item: Item) -> bool:
    return item.get("type", "message") == "message" and item.get("role") == "user"


def _user_message(item: Item, fallback_id: str) -> Item:
    content = item.get("content", "")
    parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
    return {
        "id": item.get("id") or fallback_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": parts,
    }

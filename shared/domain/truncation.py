"""``truncation: "auto"``: drop the oldest turns of a chat body until it fits a deployment's context window.

Sizes come from the estimate in ``tokens``, not a tokenizer: the worker runs this for the deployment
it is about to call (``routing.body_for``), on every try, so it must stay free of I/O; the estimate
errs on the large side.
"""

from itertools import accumulate
from typing import Any

from shared.domain import tokens

Message = dict[str, Any]


def fit(chat: dict[str, Any], *, context_window: int) -> dict[str, Any]:
    """``chat`` with as many of its oldest turns dropped as it takes to leave room for the reply
    (``max_tokens``, when the request caps it) inside ``context_window``."""
    reserved = tokens.estimate_overhead(chat) + (chat.get("max_tokens") or 0)
    messages = drop_oldest_turns(chat["messages"], budget=context_window - reserved)
    return {**chat, "messages": messages}


def drop_oldest_turns(messages: list[Message], *, budget: int) -> list[Message]:
    """The leading system messages (the request's instructions) and then the newest turns whose
    estimated size fits ``budget``.

    A turn starts at a user message, so an assistant's tool calls and the tool messages answering them
    are always kept or dropped together. The newest turn is kept even when it alone is too large: the
    backend then refuses the request, and the client learns why."""
    pinned = next((i for i, m in enumerate(messages) if m["role"] != "system"), len(messages))
    starts = [pinned] + [i for i in range(pinned + 1, len(messages)) if messages[i]["role"] == "user"]
    # suffix[i]: the estimated size of messages[i:]
    suffix = [*reversed(list(accumulate(tokens.estimate_message(m) for m in reversed(messages)))), 0]
    room = budget - (suffix[0] - suffix[pinned])
    start = next((s for s in starts if suffix[s] <= room), starts[-1])
    return messages[:pinned] + messages[start:]

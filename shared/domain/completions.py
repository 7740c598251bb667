"""A chat completion that was not streamed, as the chunks that would have streamed it: one mapping
(``stream.on_chunk``) turns both into Responses events. Pure."""

from typing import Any

_CHUNK = "chat.completion.chunk"


def as_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """Per choice, one chunk whose delta is its whole message (tool calls numbered as streamed ones
    are) and one with its finish reason; then one with the usage, as a stream's last chunk is."""
    base = {key: completion[key] for key in ("id", "created", "model", "service_tier") if key in completion}
    base["object"] = _CHUNK
    chunks = []
    for choice in completion.get("choices") or []:
        index = choice.get("index", 0)
        delta = dict(choice.get("message") or {})
        if calls := delta.pop("tool_calls", None):
            delta["tool_calls"] = [{"index": n, **call} for n, call in enumerate(calls)]
        said = {"index": index, "delta": delta, "logprobs": choice.get("logprobs"), "finish_reason": None}
        finished = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
        chunks += [{**base, "choices": [said]}, {**base, "choices": [finished]}]
    return [*chunks, {**base, "choices": [], "usage": completion.get("usage")}]

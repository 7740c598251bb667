"""Chat Completions stream chunks → Responses stream events.

One ``StreamState`` per response, driven by ``start``, ``on_chunk`` per parsed chunk, then ``finish``
(or ``fail``, or ``cancel``). Each call returns the event payloads exactly as OpenAI sends them,
numbered densely from ``sequence_start`` (0 unless a background response's queued event came first).

Output items open in the order the backend's deltas ask for them: reasoning, then a message, then
function calls. Starting a new reasoning item or message closes everything open; starting a function
call closes reasoning and the message but not other calls, since a backend may interleave the argument
deltas of parallel calls. Item ids derive from ``(response_id, output_index)``, so a retried call
yields the same ids.

Every function call the backend makes is emitted: ``max_tool_calls`` counts calls to OpenAI's
built-in tools only, which never run here, and function calls are the client's to run. The response
reports the ``service_tier`` a chunk names (the tier that served it), else the one it was asked for.
"""

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from shared import storable
from shared.ids import derived_id
from shared.request_model import ServiceTier

Event = dict[str, Any]
Item = dict[str, Any]

# finish_reason → incomplete_details.reason; any other reason completes the response.
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Tiers a response may report: a backend's own names (Groq's "on_demand") are not OpenAI's, and "auto"
# names no tier at all.
_TIERS = frozenset(get_args(ServiceTier)) - {"auto"}


@dataclass
class StreamState:
    response: dict[str, Any]
    now: Callable[[], float] = time.time
    sequence: int = 0
    # Every item by output_index, open ones included; open items are mutated as deltas arrive.
    output: list[Item] = field(default_factory=list)
    reasoning: int | None = None  # output_index of the open reasoning item
    message: int | None = None  # output_index of the open message
    calls: dict[int, int] = field(default_factory=dict)  # open calls: chat tool index → output_index
    seen_calls: set[int] = field(default_factory=set)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    ended: bool = False


def start(
    response: dict[str, Any], *, sequence_start: int = 0, now: Callable[[], float] = time.time
) -> tuple[StreamState, list[Event]]:
    """The state for a response, and its first events: response.created then response.in_progress.
    ``sequence_start`` continues a log that already holds events (a background response's queued)."""
    state = StreamState(response=copy.deepcopy(response), now=now, sequence=sequence_start)
    snapshot = {**state.response, "status": "in_progress"}
    return state, [
        _event(state, "response.created", response=copy.deepcopy(snapshot)),
        _event(state, "response.in_progress", response=copy.deepcopy(snapshot)),
    ]


def on_chunk(state: StreamState, chunk: dict[str, Any]) -> list[Event]:
    """The events for one parsed ``chat.completion.chunk``."""
    if state.ended:
        return []
    if chunk.get("usage"):
        state.usage = chunk["usage"]
    if isinstance(tier := chunk.get("service_tier"), str) and tier in _TIERS:
        state.response["service_tier"] = tier
    events: list[Event] = []
    for choice in chunk.get("choices") or []:
        if choice.get("index", 0) == 0:  # the gateway asks for one choice; ignore any other
            events += _on_choice(state, choice)
    return events


def finish(state: StreamState) -> list[Event]:
    """The backend's stream ended: close what is open and emit the terminal event."""
    if state.ended:
        return []
    reason = _INCOMPLETE_REASONS.get(state.finish_reason or "")
    events = _close_all(state, status="incomplete" if reason else "completed")
    if reason:
        response = _final(state, status="incomplete", incomplete_details={"reason": reason})
        events.append(_event(state, "response.incomplete", response=response))
    else:
        response = _final(state, status="completed", completed_at=int(state.now()))
        events.append(_event(state, "response.completed", response=response))
    state.ended = True
    return events


def fail(state: StreamState, *, code: str, message: str) -> list[Event]:
    """The backend failed: response.failed, its output holding what had streamed so far."""
    return _abort(state, "response.failed", status="failed", error={"code": code, "message": message})


def cancel(state: StreamState) -> list[Event]:
    """The owner cancelled: response.cancelled, its output holding what had streamed so far.
    OpenAI's spec names no event for this; the type follows its other terminal events."""
    return _abort(state, "response.cancelled", status="cancelled")


def _abort(state: StreamState, kind: str, *, status: str, **fields: Any) -> list[Event]:
    if state.ended:
        return []
    for index in _open_indexes(state):
        state.output[index]["status"] = "incomplete"
    response = _final(state, status=status, **fields)
    state.ended = True
    return [_event(state, kind, response=response)]


def _on_choice(state: StreamState, choice: dict[str, Any]) -> list[Event]:
    delta = choice.get("delta") or {}
    events: list[Event] = []
    # vLLM/DeepSeek name it reasoning_content, newer vLLM and OpenRouter reasoning.
    if reasoning := _backend_text(delta.get("reasoning_content")) or _backend_text(delta.get("reasoning")):
        events += _reasoning_delta(state, reasoning)
    if content := _backend_text(delta.get("content")):
        logprobs = (choice.get("logprobs") or {}).get("content") or []
        events += _text_delta(state, "output_text", content, [_logprob(lp) for lp in logprobs])
    if refusal := _backend_text(delta.get("refusal")):
        events += _text_delta(state, "refusal", refusal, [])
    for position, call in enumerate(delta.get("tool_calls") or []):
        events += _call_delta(state, call, call.get("index", position))
    if choice.get("finish_reason"):
        state.finish_reason = choice["finish_reason"]
    return events


# Reasoning ---------------------------------------------------------------------------------------


def _reasoning_delta(state: StreamState, text: str) -> list[Event]:
    events: list[Event] = []
    if state.reasoning is None:
        events += _close_all(state, status="completed")
        item = {"id": "", "type": "reasoning", "summary": [], "content": [], "status": "in_progress"}
        state.reasoning = index = _add_item(state, item, "rs")
        events.append(_item_added(state, index))
        part = {"type": "reasoning_text", "text": ""}
        state.output[index]["content"].append(part)
        events.append(_part_event(state, "response.content_part.added", index, 0, part))
    index = state.reasoning
    state.output[index]["content"][0]["text"] += text
    events.append(_event(state, "response.reasoning_text.delta", **_at(state, index, 0), delta=text))
    return events


def _close_reasoning(state: StreamState, status: str) -> list[Event]:
    index, state.reasoning = state.reasoning, None
    if index is None:
        return []
    part = state.output[index]["content"][0]
    return [
        _event(state, "response.reasoning_text.done", **_at(state, index, 0), text=part["text"]),
        _part_event(state, "response.content_part.done", index, 0, part),
        _item_done(state, index, status),
    ]


# Message -----------------------------------------------------------------------------------------


def _text_delta(state: StreamState, kind: str, text: str, logprobs: list[dict[str, Any]]) -> list[Event]:
    events: list[Event] = []
    if state.message is None:
        events += _close_all(state, status="completed")
        item = {"id": "", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        state.message = _add_item(state, item, "msg")
        events.append(_item_added(state, state.message))
    index = state.message
    content = state.output[index]["content"]
    if not content or content[-1]["type"] != kind:
        events += _close_part(state, index)
        content.append(_new_part(kind))
        events.append(_part_event(state, "response.content_part.added", index, len(content) - 1, content[-1]))
    part, at = content[-1], _at(state, index, len(content) - 1)
    if kind == "refusal":
        part["refusal"] += text
        events.append(_event(state, "response.refusal.delta", **at, delta=text))
    else:
        part["text"] += text
        part["logprobs"] += logprobs
        events.append(_event(state, "response.output_text.delta", **at, delta=text, logprobs=logprobs))
    return events


def _new_part(kind: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": ""}
    return {"type": "output_text", "text": "", "annotations": [], "logprobs": []}


def _close_part(state: StreamState, index: int) -> list[Event]:
    """Close the message's last content part, if it has one."""
    content = state.output[index]["content"]
    if not content:
        return []
    part, at = content[-1], _at(state, index, len(content) - 1)
    if part["type"] == "refusal":
        done = _event(state, "response.refusal.done", **at, refusal=part["refusal"])
    else:
        done = _event(state, "response.output_text.done", **at, text=part["text"], logprobs=part["logprobs"])
    return [done, _part_event(state, "response.content_part.done", index, len(content) - 1, part)]


def _close_message(state: StreamState, status: str) -> list[Event]:
    if state.message is None:
        return []
    index, state.message = state.message, None
    return [*_close_part(state, index), _item_done(state, index, status)]


def _logprob(entry: dict[str, Any]) -> dict[str, Any]:
    """A chat logprob entry in the Responses shape (token, logprob, bytes, top_logprobs)."""
    top = [_token(t) for t in entry.get("top_logprobs") or []]
    return {**_token(entry), "top_logprobs": top}


def _token(entry: dict[str, Any]) -> dict[str, Any]:
    token = entry["token"]
    # Chat sends null bytes for tokens without a byte form; the Responses shape requires a list.
    return {"token": token, "logprob": entry["logprob"], "bytes": entry.get("bytes") or list(token.encode())}


# Function calls ----------------------------------------------------------------------------------


def _call_delta(state: StreamState, call: dict[str, Any], tool_index: int) -> list[Event]:
    events: list[Event] = []
    function = call.get("function") or {}
    if tool_index not in state.seen_calls:
        events += _close_reasoning(state, "completed") + _close_message(state, "completed")
        index = _add_item(state, _new_call(state, call), "fc")
        state.seen_calls.add(tool_index)
        state.calls[tool_index] = index
        events.append(_item_added(state, index))
    index = state.calls.get(tool_index)
    if index is None:
        return events  # a late delta for a call already closed by later reasoning or text
    item = state.output[index]
    if (name := _backend_text(function.get("name"))) and not item["name"]:
        item["name"] = name
    if arguments := _backend_text(function.get("arguments")):
        item["arguments"] += arguments
        events.append(
            _event(state, "response.function_call_arguments.delta", **_at(state, index), delta=arguments)
        )
    return events


def _new_call(state: StreamState, call: dict[str, Any]) -> Item:
    # Some backends omit the call id; one derived from the item keeps replays identical.
    call_id = _backend_text(call.get("id")) or derived_id("call", state.response["id"], len(state.output))
    name = _backend_text((call.get("function") or {}).get("name"))
    return {
        "id": "",
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": call_id,
        "name": name,
    }


def _close_calls(state: StreamState, status: str) -> list[Event]:
    events: list[Event] = []
    for index in sorted(state.calls.values()):
        item = state.output[index]
        events.append(
            _event(
                state,
                "response.function_call_arguments.done",
                **_at(state, index),
                name=item["name"],
                arguments=item["arguments"],
            )
        )
        events.append(_item_done(state, index, status))
    state.calls.clear()
    return events


# Shared ------------------------------------------------------------------------------------------


def _backend_text(value: Any) -> str:
    """A backend's text field ('' when absent): always valid Unicode, so the response stays storable
    even if the backend split a ``\\ud83d\\ude00`` escape across chunks or sent a lone one."""
    return storable.valid_unicode(value) if isinstance(value, str) else ""


def _close_all(state: StreamState, *, status: str) -> list[Event]:
    return _close_reasoning(state, status) + _close_message(state, status) + _close_calls(state, status)


def _open_indexes(state: StreamState) -> list[int]:
    opened = [state.reasoning, state.message, *state.calls.values()]
    return sorted(index for index in opened if index is not None)


def _add_item(state: StreamState, item: Item, prefix: str) -> int:
    index = len(state.output)
    item["id"] = derived_id(prefix, state.response["id"], index)
    state.output.append(item)
    return index


def _item_added(state: StreamState, index: int) -> Event:
    return _event(
        state, "response.output_item.added", output_index=index, item=copy.deepcopy(state.output[index])
    )


def _item_done(state: StreamState, index: int, status: str) -> Event:
    state.output[index]["status"] = status
    return _event(
        state, "response.output_item.done", output_index=index, item=copy.deepcopy(state.output[index])
    )


def _part_event(state: StreamState, kind: str, index: int, content_index: int, part: dict[str, Any]) -> Event:
    return _event(state, kind, **_at(state, index, content_index), part=copy.deepcopy(part))


def _at(state: StreamState, index: int, content_index: int | None = None) -> dict[str, Any]:
    at: dict[str, Any] = {"item_id": state.output[index]["id"], "output_index": index}
    if content_index is not None:
        at["content_index"] = content_index
    return at


def _event(state: StreamState, kind: str, **fields: Any) -> Event:
    event = {"type": kind, "sequence_number": state.sequence, **fields}
    state.sequence += 1
    return event


def _final(state: StreamState, *, status: str, **fields: Any) -> dict[str, Any]:
    return {
        **copy.deepcopy(state.response),
        "status": status,
        "output": copy.deepcopy(state.output),
        "usage": responses_usage(state.usage),
        **fields,
    }


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat usage in the Responses shape; None when the backend reported none."""
    if usage is None:
        return None
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    input_tokens = usage.get("prompt_tokens") or 0
    output_tokens = usage.get("completion_tokens") or 0
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": prompt_details.get("cached_tokens") or 0,
            "cache_write_tokens": 0,  # Chat Completions does not report cache writes
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": completion_details.get("reasoning_tokens") or 0},
        "total_tokens": usage.get("total_tokens") or input_tokens + output_tokens,
    }

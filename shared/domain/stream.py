"""Chat Completions stream chunks → Responses stream events.

One ``StreamState`` per response, driven by ``start``, ``on_chunk`` per parsed chunk, then ``finish``
(or ``fail``, or ``cancel``). Each call returns the event payloads exactly as OpenAI sends them,
numbered densely from ``sequence_start`` (0 unless a background response's queued event came first).

Output items open in the order the backend's deltas ask for them: reasoning, then a message, then
function calls. Starting a new reasoning item or message closes everything open; starting a function
call closes reasoning and the message but not other calls, since a backend may interleave the argument
deltas of parallel calls. Item ids derive from ``(response_id, output_index)``, so a retried call
yields the same ids.

Reasoning: the backend's reasoning text (``reasoning_content`` / ``reasoning``) is the item's
``reasoning_text`` content. When the request asked for a summary (``reasoning.summary``), the same
text is also its one ``summary_text`` part, with the ``response.reasoning_summary_*`` events: a chat
backend has no summariser, and its reasoning is what a summary would be made of. When it asked for
``reasoning.encrypted_content``, the closed item carries the text sealed by ``seal_reasoning`` (a
function from the caller: the domain holds no key).

A function inside a ``namespace`` tool was offered to the backend under a joined name; its calls are
reported with the function's own ``name`` and its ``namespace`` (``tools.namespaced_functions``).

Every function call the backend makes is emitted, except calls of ``hosted`` functions: those stand
for built-in tools the gateway runs itself (the tool loop: ``resume``, ``pause``, and the item helpers
``open_item`` / ``item_event`` / ``close_item``), and the client sees their own items. The response
reports the ``service_tier`` a chunk names (the tier that served it), else the one it was asked for.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

import pydantic_core

from shared import storable
from shared.domain import tools
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
    # The built-in tool loop (``resume``, ``pause``): functions the gateway runs itself, whose calls
    # are kept from the client (by chat tool index) until they ran; the chat usage of earlier steps;
    # what marks up a finished text part (url_citation annotations); where this step's items begin.
    hosted: frozenset[str] = frozenset()
    hosted_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    usage_before: dict[str, Any] | None = None
    annotate: Callable[[str], list[dict[str, Any]]] | None = None
    first_index: int = 0
    # Seals a reasoning text into the item's encrypted_content; None: not asked for.
    seal_reasoning: Callable[[str], str] | None = None
    # Chat function name → (namespace, name), for the functions of namespace tools.
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def summarised(self) -> bool:
        reasoning = self.response.get("reasoning") or {}
        return bool(reasoning.get("summary") or reasoning.get("generate_summary"))  # the latter: deprecated


def start(
    response: dict[str, Any],
    *,
    sequence_start: int = 0,
    now: Callable[[], float] = time.time,
    seal_reasoning: Callable[[str], str] | None = None,
) -> tuple[StreamState, list[Event]]:
    """The state for a response, and its first events: response.created then response.in_progress.
    ``sequence_start`` continues a log that already holds events (a background response's queued)."""
    state = StreamState(
        response={**response},  # a top level of its own, which is all the stream sets (see _shown)
        now=now,
        sequence=sequence_start,
        seal_reasoning=seal_reasoning,
        namespaced=tools.namespaced_functions(response.get("tools") or []),
    )
    return state, [
        _event(state, "response.created", response=_shown(state, status="in_progress")),
        _event(state, "response.in_progress", response=_shown(state, status="in_progress")),
    ]


def resume(response: dict[str, Any], *, sequence_start: int, **options: Any) -> StreamState:
    """The state for a later step of a response's tool loop (``options`` as ``start`` takes them): its
    output so far is kept, and it has no opening events, since the client saw them in the first step."""
    state, _ = start({**response, "output": []}, sequence_start=sequence_start, **options)
    state.sequence = sequence_start
    state.output = _copied(response.get("output") or [])
    state.first_index = len(state.output)
    return state


def pause(state: StreamState) -> list[Event]:
    """The model's turn ended in calls to hosted functions: close what is open, and leave the
    response going, for the gateway to run the calls (``state.hosted_calls``) and call it again."""
    return [] if state.ended else _close_all(state, status="completed")


def snapshot(state: StreamState) -> dict[str, Any]:
    """The Response as it stands now, output included: what the loop's next step resumes from."""
    return _shown(state, output=_copied(state.output))


def open_item(state: StreamState, item: Item, prefix: str) -> tuple[int, list[Event]]:
    """Add an output item (its id derived from ``prefix``): its index and output_item.added."""
    index = _add_item(state, item, prefix)
    return index, [_item_added(state, index)]


def item_event(state: StreamState, kind: str, index: int, **fields: Any) -> Event:
    """An event about one output item (``response.web_search_call.searching``...)."""
    return _event(state, kind, **_at(state, index), **fields)


def close_item(state: StreamState, index: int, status: str, **fields: Any) -> list[Event]:
    """Set ``fields`` and ``status`` on an output item: output_item.done."""
    state.output[index].update(fields)
    return [_item_done(state, index, status)]


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
        if state.summarised:
            summary = {"type": "summary_text", "text": ""}
            state.output[index]["summary"].append(summary)
            events.append(_summary_event(state, "response.reasoning_summary_part.added", index, part=summary))
    index = state.reasoning
    state.output[index]["content"][0]["text"] += text
    events.append(_event(state, "response.reasoning_text.delta", **_at(state, index, 0), delta=text))
    if state.summarised:
        state.output[index]["summary"][0]["text"] += text
        events.append(_summary_event(state, "response.reasoning_summary_text.delta", index, delta=text))
    return events


def _close_reasoning(state: StreamState, status: str) -> list[Event]:
    index, state.reasoning = state.reasoning, None
    if index is None:
        return []
    item = state.output[index]
    part = item["content"][0]
    events = [
        _event(state, "response.reasoning_text.done", **_at(state, index, 0), text=part["text"]),
        _part_event(state, "response.content_part.done", index, 0, part),
    ]
    if summary := item["summary"]:
        events += [
            _summary_event(state, "response.reasoning_summary_text.done", index, text=summary[0]["text"]),
            _summary_event(state, "response.reasoning_summary_part.done", index, part=_copied(summary[0])),
        ]
    if state.seal_reasoning is not None:
        item["encrypted_content"] = state.seal_reasoning(part["text"])
    return [*events, _item_done(state, index, status)]


def _summary_event(state: StreamState, kind: str, index: int, **fields: Any) -> Event:
    # One summary part per reasoning item: the backend's reasoning is not split into sections.
    return _event(
        state, kind, item_id=state.output[index]["id"], output_index=index, summary_index=0, **fields
    )


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
    events = []
    if part["type"] == "refusal":
        events.append(_event(state, "response.refusal.done", **at, refusal=part["refusal"]))
    else:
        events += _annotated(state, part, at)
        events.append(
            _event(state, "response.output_text.done", **at, text=part["text"], logprobs=part["logprobs"])
        )
    return [*events, _part_event(state, "response.content_part.done", index, len(content) - 1, part)]


def _annotated(state: StreamState, part: dict[str, Any], at: dict[str, Any]) -> list[Event]:
    """Annotate a finished text part (the sources it cites), one event per annotation."""
    if state.annotate is None:
        return []
    part["annotations"] = state.annotate(part["text"])
    return [
        _event(state, "response.output_text.annotation.added", **at, annotation_index=n, annotation=a)
        for n, a in enumerate(part["annotations"])
    ]


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
    if hidden := _hosted_call(state, call, tool_index):
        hidden["arguments"] += _backend_text(function.get("arguments"))
        return []
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
        _name_call(state, item, name)
    if arguments := _backend_text(function.get("arguments")):
        item["arguments"] += arguments
        events.append(
            _event(state, "response.function_call_arguments.delta", **_at(state, index), delta=arguments)
        )
    return events


def _hosted_call(state: StreamState, call: dict[str, Any], tool_index: int) -> dict[str, str] | None:
    """The gateway's own record of a call to a hosted function (None for any other call), begun at
    its first delta: the client sees it only as the built-in tool's item, once it runs."""
    if tool_index in state.hosted_calls:
        return state.hosted_calls[tool_index]
    name = _backend_text((call.get("function") or {}).get("name"))
    if tool_index in state.seen_calls or name not in state.hosted:
        return None
    state.seen_calls.add(tool_index)
    call_id = _backend_text(call.get("id")) or derived_id("call", state.response["id"], state.sequence)
    state.hosted_calls[tool_index] = {"call_id": call_id, "name": name, "arguments": ""}
    return state.hosted_calls[tool_index]


def _new_call(state: StreamState, call: dict[str, Any]) -> Item:
    # Some backends omit the call id; one derived from the item keeps replays identical.
    call_id = _backend_text(call.get("id")) or derived_id("call", state.response["id"], len(state.output))
    item = {"id": "", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": call_id}
    _name_call(state, item, _backend_text((call.get("function") or {}).get("name")))
    return item


def _name_call(state: StreamState, item: Item, name: str) -> None:
    """The call's name as the client knows it: a namespace's function by its own name and namespace."""
    if name in state.namespaced:
        item["namespace"], item["name"] = state.namespaced[name]
    else:
        item["name"] = name


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
    return _event(state, "response.output_item.added", output_index=index, item=_copied(state.output[index]))


def _item_done(state: StreamState, index: int, status: str) -> Event:
    state.output[index]["status"] = status
    return _event(state, "response.output_item.done", output_index=index, item=_copied(state.output[index]))


def _part_event(state: StreamState, kind: str, index: int, content_index: int, part: dict[str, Any]) -> Event:
    return _event(state, kind, **_at(state, index, content_index), part=_copied(part))


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
    usage = responses_usage(summed_usage(state.usage_before, state.usage))
    return _shown(state, status=status, output=_copied(state.output), usage=usage, **fields)


def _shown(state: StreamState, **changes: Any) -> dict[str, Any]:
    """The Response as an event shows it: a top level of its own over the parts that the request
    gave (tools, instructions, metadata, ...). The stream sets only top-level fields of its state's
    response and never changes those parts, so the state and its events share them with the caller's
    Response; copying them into the state and every opening and closing event was the worker's
    largest cost for a request carrying an agent's tools."""
    return {**state.response, **changes}


def summed_usage(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Two chat usages added up (a response of several chat calls reports them all), counts and
    their details; None only when neither is known."""
    if a is None or b is None:
        return a or b
    total: dict[str, Any] = {}
    for key in {*a, *b}:
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) or isinstance(y, dict):
            total[key] = summed_usage(x if isinstance(x, dict) else None, y if isinstance(y, dict) else None)
        elif isinstance(x, int | float) or isinstance(y, int | float):
            total[key] = (x if isinstance(x, int | float) else 0) + (y if isinstance(y, int | float) else 0)
    return total


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


def _copied(value: Any) -> Any:
    """A deep copy of JSON-shaped data (the output and its items, which the stream changes in place):
    a JSON round trip through pydantic-core takes a quarter of ``copy.deepcopy``'s time. Everything
    here is storable (``shared/storable.py``: no lone surrogates), so it has a JSON form."""
    return pydantic_core.from_json(pydantic_core.to_json(value))

from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from shared.domain import stream
from shared.domain.requests import build_response
from shared.ids import derived_id
from shared.request_model import ResponseCreateRequest

RID = "resp_test"
CREATED = 1700000000
COMPLETED = 1700000042
EVENT = TypeAdapter(ResponseStreamEvent)

MSG = derived_id("msg", RID, 0)


def _response(**fields: Any) -> dict[str, Any]:
    request = ResponseCreateRequest.model_validate({"model": "gpt-test", "input": "hi", **fields})
    return build_response(request, response_id=RID, created_at=CREATED)


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chat.completion.chunk as OpenAI-compatible servers send it."""
    choice = {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish, **extra}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "m",
        "choices": [choice],
    }


def _usage_chunk(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


def _tool(
    index: int, *, call_id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        call |= {"id": call_id, "type": "function"}
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def _run(chunks: list[dict[str, Any]], response: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    state, events = stream.start(response or _response(), now=lambda: float(COMPLETED))
    for chunk in chunks:
        events += stream.on_chunk(state, chunk)
    return events + stream.finish(state)


def _valid(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every event parses as the SDK's event type, numbered 0, 1, 2, ..."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        assert EVENT.validate_python(event).type == event["type"]
        if "response" in event:
            Response.model_validate(event["response"])
    return events


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"].removeprefix("response.") for e in events]


HELLO = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo!"}),
    _chunk(finish="stop"),
    _usage_chunk(12, 3, cached=8),
]


def test_text_message_sequence() -> None:
    events = _valid(_run(HELLO))

    assert _types(events) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[2] == {
        "type": "response.output_item.added",
        "sequence_number": 2,
        "output_index": 0,
        "item": {"id": MSG, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
    }
    assert events[3]["part"] == {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    assert events[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": MSG,
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    assert events[6]["text"] == "Hello!"
    done_item = {
        "id": MSG,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}],
    }
    assert events[8]["item"] == done_item

    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert final["completed_at"] == COMPLETED
    assert final["output"] == [done_item]
    assert final["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }
    assert Response.model_validate(final).output_text == "Hello!"


def test_replaying_the_same_chunks_yields_identical_events() -> None:
    assert _run(HELLO) == _run(HELLO)


def test_usage_details_default_to_zero() -> None:
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    events = _run([_chunk({"content": "x"}, finish="stop"), {"choices": [], "usage": usage}])
    assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 0
    assert events[-1]["response"]["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_comes_before_the_message(field: str) -> None:
    events = _valid(
        _run(
            [
                _chunk({"role": "assistant", field: "Let me "}),
                _chunk({field: "think."}),
                _chunk({"content": "4"}),
                _chunk(finish="stop"),
                _usage_chunk(5, 9, reasoning=6),
            ]
        )
    )

    assert _types(events) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "reasoning_text.delta",
        "reasoning_text.delta",
        "reasoning_text.done",
        "content_part.done",
        "output_item.done",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    rs = derived_id("rs", RID, 0)
    assert events[4] == {
        "type": "response.reasoning_text.delta",
        "sequence_number": 4,
        "item_id": rs,
        "output_index": 0,
        "content_index": 0,
        "delta": "Let me ",
    }
    assert events[6]["text"] == "Let me think."
    final = events[-1]["response"]
    assert final["output"][0] == {
        "id": rs,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "Let me think."}],
        "status": "completed",
    }
    assert final["output"][1]["id"] == derived_id("msg", RID, 1)
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 6


def test_text_then_two_tool_calls() -> None:
    events = _valid(
        _run(
            [
                _chunk({"role": "assistant", "content": "Checking."}),
                _chunk(_tool(0, call_id="call_p", name="get_weather")),
                _chunk(_tool(0, args='{"city":')),
                _chunk(_tool(0, args='"Paris"}')),
                _chunk(_tool(1, call_id="call_r", name="get_weather", args='{"city":"Rome"}')),
                _chunk(finish="tool_calls"),
                _usage_chunk(30, 20),
            ]
        )
    )

    assert _types(events) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.delta",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    fc1, fc2 = derived_id("fc", RID, 1), derived_id("fc", RID, 2)
    assert events[8] == {
        "type": "response.output_item.added",
        "sequence_number": 8,
        "output_index": 1,
        "item": {
            "id": fc1,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": "call_p",
            "name": "get_weather",
        },
    }
    assert events[9] == {
        "type": "response.function_call_arguments.delta",
        "sequence_number": 9,
        "item_id": fc1,
        "output_index": 1,
        "delta": '{"city":',
    }
    assert events[13] == {
        "type": "response.function_call_arguments.done",
        "sequence_number": 13,
        "item_id": fc1,
        "output_index": 1,
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [(o["type"], o["id"], o.get("call_id"), o["status"]) for o in final["output"]] == [
        ("message", MSG, None, "completed"),
        ("function_call", fc1, "call_p", "completed"),
        ("function_call", fc2, "call_r", "completed"),
    ]
    assert final["output"][2]["arguments"] == '{"city":"Rome"}'


def test_interleaved_parallel_call_deltas_land_on_their_own_items() -> None:
    events = _valid(
        _run(
            [
                _chunk(
                    {
                        "tool_calls": [
                            _tool(0, call_id="a", name="f")["tool_calls"][0],
                            _tool(1, call_id="b", name="g")["tool_calls"][0],
                        ]
                    }
                ),
                _chunk(_tool(1, args='{"y":2}')),
                _chunk(_tool(0, args='{"x":1}')),
                _chunk(finish="tool_calls"),
            ]
        )
    )
    final = events[-1]["response"]
    assert [(o["name"], o["arguments"]) for o in final["output"]] == [("f", '{"x":1}'), ("g", '{"y":2}')]
    assert final["usage"] is None  # the backend reported none


def test_a_missing_call_id_is_derived() -> None:
    call = {"index": 0, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    events = _valid(_run([_chunk({"tool_calls": [call]}, finish="tool_calls")]))
    assert events[-1]["response"]["output"][0]["call_id"] == derived_id("call", RID, 0)


def test_max_tool_calls_never_cuts_function_calls() -> None:
    # OpenAI counts only built-in tool calls against max_tool_calls; function calls are the client's.
    events = _valid(
        _run(
            [
                _chunk(_tool(0, call_id="a", name="f", args="{}")),
                _chunk(_tool(1, call_id="b", name="f", args="{}")),
                _chunk(_tool(1, args=" ")),
                _chunk(finish="tool_calls"),
            ],
            _response(max_tool_calls=1),
        )
    )
    final = events[-1]["response"]
    assert [(o["call_id"], o["arguments"]) for o in final["output"]] == [("a", "{}"), ("b", "{} ")]
    assert _types(events).count("output_item.added") == 2
    assert final["max_tool_calls"] == 1  # still echoed as asked


def test_service_tier_reported_by_the_backend_wins_over_the_requested_one() -> None:
    def final_tier(reported: object, requested: str | None) -> str:
        chunks = [{**_chunk({"content": "hi"}), "service_tier": reported}, _chunk(finish="stop")]
        return _valid(_run(chunks, _response(service_tier=requested)))[-1]["response"]["service_tier"]

    assert final_tier("default", "priority") == "default"
    assert final_tier(None, "flex") == "flex"
    assert final_tier(None, None) == final_tier(None, "auto") == "default"
    # A vendor's own tier name (Groq's) is not OpenAI's, nor is garbage: the requested one stands.
    assert final_tier("on_demand", "flex") == final_tier({"x": 1}, "flex") == "flex"


def test_refusal_part() -> None:
    events = _valid(
        _run(
            [
                _chunk({"role": "assistant", "refusal": "I can't "}),
                _chunk({"refusal": "help."}),
                _chunk(finish="stop"),
            ]
        )
    )

    assert _types(events)[2:-1] == [
        "output_item.added",
        "content_part.added",
        "refusal.delta",
        "refusal.delta",
        "refusal.done",
        "content_part.done",
        "output_item.done",
    ]
    assert events[3]["part"] == {"type": "refusal", "refusal": ""}
    assert events[6] == {
        "type": "response.refusal.done",
        "sequence_number": 6,
        "item_id": MSG,
        "output_index": 0,
        "content_index": 0,
        "refusal": "I can't help.",
    }
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]


def test_logprobs_are_carried_on_deltas_and_the_part() -> None:
    logprobs = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Hey", "logprob": -2.5, "bytes": None},
                ],
            }
        ],
        "refusal": None,
    }
    events = _valid(_run([_chunk({"content": "Hi"}, logprobs=logprobs), _chunk(finish="stop")]))

    expected = [
        {
            "token": "Hi",
            "logprob": -0.1,
            "bytes": [72, 105],
            "top_logprobs": [
                {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]},
            ],
        }
    ]
    delta = next(e for e in events if e["type"] == "response.output_text.delta")
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert delta["logprobs"] == expected
    assert done["logprobs"] == expected
    assert events[-1]["response"]["output"][0]["content"][0]["logprobs"] == expected


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_cut_off_output_ends_incomplete(finish: str, reason: str) -> None:
    events = _valid(_run([_chunk({"content": "partial"}), _chunk(finish=finish), _usage_chunk(3, 16)]))

    assert events[-1]["type"] == "response.incomplete"
    final = events[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": reason}
    assert final["completed_at"] is None
    assert final["output"][0]["status"] == "incomplete"
    assert events[-2]["item"]["status"] == "incomplete"


def test_failure_mid_stream_keeps_what_streamed() -> None:
    state, events = stream.start(_response())
    events += stream.on_chunk(state, _chunk({"content": "par"}))
    events += stream.fail(state, code="server_error", message="backend went away")
    _valid(events)

    assert _types(events)[-1] == "failed"
    final = events[-1]["response"]
    assert final["status"] == "failed"
    assert final["error"] == {"code": "server_error", "message": "backend went away"}
    assert final["output"][0]["status"] == "incomplete"
    assert final["output"][0]["content"][0]["text"] == "par"


def test_failure_before_any_output() -> None:
    state, events = stream.start(_response())
    events = _valid(events + stream.fail(state, code="rate_limit_exceeded", message="slow down"))
    assert _types(events) == ["created", "in_progress", "failed"]
    assert events[-1]["response"]["output"] == []


def test_nothing_follows_the_terminal_event() -> None:
    state, _ = stream.start(_response())
    stream.on_chunk(state, _chunk({"content": "x"}, finish="stop"))
    assert stream.finish(state)[-1]["type"] == "response.completed"
    assert stream.on_chunk(state, _chunk({"content": "late"})) == []
    assert stream.finish(state) == []
    assert stream.fail(state, code="server_error", message="late") == []


def test_emitted_events_are_snapshots() -> None:
    state, events = stream.start(_response())
    events += stream.on_chunk(state, _chunk({"content": "a"}))
    added = events[2]["item"]
    stream.on_chunk(state, _chunk({"content": "b"}))
    stream.finish(state)
    assert added["content"] == [] and added["status"] == "in_progress"


def test_the_skeleton_passed_in_is_not_mutated() -> None:
    skeleton = _response()
    before = repr(skeleton)
    _run(HELLO, skeleton)
    assert repr(skeleton) == before


def test_cancel_keeps_what_streamed() -> None:
    state, events = stream.start(_response())
    events += stream.on_chunk(state, _chunk({"content": "half"}))
    events += stream.cancel(state)

    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    # OpenAI's SDK has no event type for this; the Response it carries must still parse.
    assert events[-1]["type"] == "response.cancelled"
    final = Response.model_validate(events[-1]["response"])
    assert final.status == "cancelled"
    assert final.output[0].status == "incomplete"
    assert stream.finish(state) == []


def test_numbering_continues_after_a_queued_event() -> None:
    state, events = stream.start(_response(background=True), sequence_start=1)
    events += stream.on_chunk(state, _chunk({"content": "x"}, finish="stop"))
    events += stream.finish(state)
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "response.created"
    assert events[0]["response"]["background"] is True


def test_a_lone_surrogate_from_the_backend_becomes_a_replacement_character() -> None:
    # A backend that splits a "\ud83d\ude00" escape across chunks; the response must stay storable.
    events = _valid(
        _run([_chunk({"content": "a\ud83d"}), _chunk({"content": "\ude00b"}), _chunk(finish="stop")])
    )
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "a\ufffd\ufffdb"

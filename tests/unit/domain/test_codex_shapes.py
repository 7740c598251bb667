"""What Codex sends and expects: namespace tools flattened for a chat backend and their calls mapped
back, reasoning summaries from the backend's reasoning text, and reasoning sealed for a stateless client."""

from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from shared.domain import stream, tools
from shared.domain.requests import build_chat_request, build_response
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest

EVENT = TypeAdapter(ResponseStreamEvent)
SPAWN = {
    "type": "function",
    "name": "spawn_agent",
    "description": "Start one.",
    "parameters": {"type": "object"},
}
NAMESPACE = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [SPAWN, {"type": "custom", "name": "freeform"}],
}
SHELL = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}


def _request(**fields: Any) -> ResponseCreateRequest:
    return ResponseCreateRequest.model_validate({"model": "m", "input": "hi", **fields})


def _run(request: ResponseCreateRequest, chunks: list[dict], **start: Any) -> list[dict]:
    response = build_response(request, response_id="resp_1", created_at=1)
    state, events = stream.start(response, now=lambda: 2.0, **start)
    for chunk in chunks:
        events += stream.on_chunk(state, chunk)
    events += stream.finish(state)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:  # every event is one the openai SDK knows
        assert EVENT.validate_python(event).type == event["type"]
    Response.model_validate(events[-1]["response"])
    return events


def _delta(**delta: Any) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


# Namespace tools -----------------------------------------------------------------------------------


def test_a_namespace_s_functions_are_offered_under_joined_names() -> None:
    chat = build_chat_request(_request(tools=[SHELL, NAMESPACE]), [])
    functions = {t["function"]["name"]: t["function"] for t in chat["tools"]}
    assert set(functions) == {"exec_command", "multi_agent_v1__spawn_agent"}  # custom tools have no chat form
    spawn = functions["multi_agent_v1__spawn_agent"]
    assert spawn["parameters"] == {"type": "object"}
    assert spawn["description"].startswith("Tools for spawning") and spawn["description"].endswith(
        "Start one."
    )


def test_a_joined_name_past_64_characters_is_shortened_and_stays_unique() -> None:
    long_a, long_b = "n" * 40, "f" * 40
    first, second = tools.namespaced_name(long_a, long_b), tools.namespaced_name(long_a, long_b + "x")
    assert len(first) == len(second) == 64 and first != second
    assert tools.namespaced_name("a", "b") == "a__b"
    namespace = {**NAMESPACE, "name": long_a, "tools": [{**SPAWN, "name": long_b}]}
    assert tools.namespaced_functions([namespace]) == {first: (long_a, long_b)}


def test_the_model_s_call_comes_back_with_its_name_and_namespace() -> None:
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "multi_agent_v1__spawn_agent"},
    }
    more = {"index": 0, "function": {"arguments": '{"task": "x"}'}}
    events = _run(_request(tools=[SHELL, NAMESPACE]), [_delta(tool_calls=[call]), _delta(tool_calls=[more])])
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["name"] == "spawn_agent" and added["item"]["namespace"] == "multi_agent_v1"
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert done["name"] == "spawn_agent"
    item = events[-1]["response"]["output"][0]
    assert (item["namespace"], item["name"], item["arguments"]) == (
        "multi_agent_v1",
        "spawn_agent",
        '{"task": "x"}',
    )


def test_a_plain_function_call_has_no_namespace() -> None:
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "exec_command", "arguments": "{}"},
    }
    item = _run(_request(tools=[SHELL, NAMESPACE]), [_delta(tool_calls=[call])])[-1]["response"]["output"][0]
    assert item["name"] == "exec_command" and "namespace" not in item


def test_a_namespaced_call_handed_back_goes_to_the_backend_under_its_joined_name() -> None:
    items = [
        {"role": "user", "content": "go"},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "spawn_agent",
            "namespace": "multi_agent_v1",
            "arguments": "{}",
        },
        {"type": "function_call_output", "call_id": "c1", "output": "started"},
    ]
    chat = build_chat_request(_request(input=items, tools=[NAMESPACE]), [])
    assert chat["messages"][1]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"


def test_a_namespace_member_must_be_a_function_or_custom_tool() -> None:
    with pytest.raises(ValueError):
        _request(tools=[{**NAMESPACE, "tools": [{"type": "web_search"}]}])


# Reasoning summaries -----------------------------------------------------------------------------


def test_a_summary_asked_for_is_built_from_the_backend_s_reasoning() -> None:
    chunks = [_delta(reasoning_content="Think "), _delta(reasoning="more."), _delta(content="Answer")]
    events = _run(_request(reasoning={"summary": "auto"}), chunks)
    kinds = [e["type"] for e in events]
    assert kinds.count("response.reasoning_summary_text.delta") == 2
    order = [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert [k for k in kinds if k in order][:4] == order
    done = next(e for e in events if e["type"] == "response.reasoning_summary_text.done")
    assert done["text"] == "Think more." and done["summary_index"] == 0
    item = events[-1]["response"]["output"][0]
    assert item["summary"] == [{"type": "summary_text", "text": "Think more."}]
    assert item["content"] == [{"type": "reasoning_text", "text": "Think more."}]


def test_without_summary_the_reasoning_item_is_as_before() -> None:
    events = _run(_request(), [_delta(reasoning_content="Think"), _delta(content="A")])
    assert not [e for e in events if e["type"].startswith("response.reasoning_summary")]
    item = events[-1]["response"]["output"][0]
    assert item["summary"] == [] and "encrypted_content" not in item


# Encrypted reasoning -----------------------------------------------------------------------------


def _sealed(text: str) -> str:
    return f"sealed<{text}>"


def _opened(blob: str) -> str:
    if not (blob.startswith("sealed<") and blob.endswith(">")):
        raise InvalidRequest("bad blob", param="input", code="invalid_encrypted_content")
    return blob[len("sealed<") : -1]


def test_the_closed_reasoning_item_carries_its_text_sealed() -> None:
    events = _run(
        _request(), [_delta(reasoning_content="Think"), _delta(content="A")], seal_reasoning=_sealed
    )
    done = next(e for e in events if e["type"] == "response.output_item.done")
    assert done["item"]["encrypted_content"] == "sealed<Think>"
    assert events[-1]["response"]["output"][0]["encrypted_content"] == "sealed<Think>"


def _handed_back(blob: str) -> list[dict]:
    # Codex sends its reasoning items back with the summary and the blob, not the raw text.
    return [
        {"role": "user", "content": "list files"},
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "short"}],
            "encrypted_content": blob,
        },
        {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
    ]


def test_a_handed_back_blob_restores_the_reasoning_for_the_model() -> None:
    request = _request(input=_handed_back("sealed<Think>"))
    chat = build_chat_request(request, [], replay_reasoning=True, open_reasoning=_opened)
    assert chat["messages"][1]["reasoning_content"] == "Think"
    # Replay off (the default): the blob is still checked, the reasoning not sent.
    plain = build_chat_request(request, [], open_reasoning=_opened)
    assert "reasoning_content" not in plain["messages"][1]


def test_a_blob_that_does_not_open_refuses_the_request() -> None:
    with pytest.raises(InvalidRequest) as refused:
        build_chat_request(_request(input=_handed_back("tampered")), [], open_reasoning=_opened)
    assert refused.value.code == "invalid_encrypted_content"


def test_without_an_opener_the_summary_stands_in() -> None:
    chat = build_chat_request(_request(input=_handed_back("sealed<Think>")), [], replay_reasoning=True)
    assert chat["messages"][1]["reasoning_content"] == "short"

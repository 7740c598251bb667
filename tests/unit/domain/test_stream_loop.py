"""The stream mapping's part in the built-in tool loop: calls to hosted functions are kept from the
client, a turn that made them pauses instead of ending, a later step resumes the output, text parts
get their citations, and usage adds up over the steps."""

from shared.domain import stream

RESPONSE = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}


def chunk(delta: dict, finish_reason: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def call_delta(
    index: int, *, name: str | None = None, arguments: str = "", call_id: str | None = None
) -> dict:
    function = {"arguments": arguments} | ({"name": name} if name else {})
    return chunk({"tool_calls": [{"index": index, "id": call_id, "function": function}]})


def test_hosted_calls_are_kept_from_the_client_and_the_turn_pauses():
    state, _ = stream.start(RESPONSE)
    state.hosted = frozenset({"web_search"})
    events = stream.on_chunk(state, chunk({"content": "Let me look."}))
    events += stream.on_chunk(state, call_delta(0, name="web_search", arguments='{"query"', call_id="c1"))
    events += stream.on_chunk(state, call_delta(0, arguments=': "x"}'))
    events += stream.on_chunk(state, call_delta(1, name="get_weather", arguments="{}", call_id="c2"))
    events += stream.on_chunk(state, chunk({}, "tool_calls"))
    events += stream.pause(state)
    assert state.hosted_calls == {0: {"call_id": "c1", "name": "web_search", "arguments": '{"query": "x"}'}}
    assert [item["type"] for item in state.output] == ["message", "function_call"]
    assert state.output[1]["name"] == "get_weather"
    assert "web_search" not in str(events)
    assert not state.ended and events[-1]["type"] == "response.output_item.done"
    snapshot = stream.snapshot(state)
    assert snapshot["output"] == state.output and snapshot["status"] == "in_progress"


def test_a_later_step_resumes_numbering_and_output_without_opening_events():
    earlier = {**RESPONSE, "output": [{"id": "ws_1", "type": "web_search_call", "status": "completed"}]}
    state = stream.resume(earlier, sequence_start=9)
    assert state.sequence == 9 and state.first_index == 1
    index, added = stream.open_item(state, {"id": "", "type": "message", "content": []}, "msg")
    assert index == 1 and added[0]["sequence_number"] == 9 and added[0]["output_index"] == 1
    progress = stream.item_event(state, "response.web_search_call.searching", 0)
    assert progress == {
        "type": "response.web_search_call.searching",
        "sequence_number": 10,
        "item_id": "ws_1",
        "output_index": 0,
    }
    done = stream.close_item(state, 1, "completed", content=[])
    assert done[0]["item"]["status"] == "completed"
    final = stream.finish(state)[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["web_search_call", "message"]
    assert earlier["output"][0]["status"] == "completed"  # the step's input is not mutated


def test_a_finished_text_part_gets_its_annotations_and_their_events():
    state, _ = stream.start(RESPONSE)
    state.annotate = lambda text: [
        {"type": "url_citation", "start_index": 0, "end_index": len(text), "url": "u", "title": "t"}
    ]
    stream.on_chunk(state, chunk({"content": "cited"}))
    events = stream.finish(state)
    types = [e["type"] for e in events]
    assert types[:3] == [
        "response.output_text.annotation.added",
        "response.output_text.done",
        "response.content_part.done",
    ]
    assert events[0]["annotation_index"] == 0 and events[0]["annotation"]["end_index"] == 5
    assert events[-1]["response"]["output"][0]["content"][0]["annotations"] == [events[0]["annotation"]]


def test_usage_adds_up_over_the_steps():
    first = {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 1},
    }
    second = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    assert stream.summed_usage(first, second) == {
        "prompt_tokens": 13,
        "completion_tokens": 6,
        "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 1},
    }
    assert stream.summed_usage(None, second) == second and stream.summed_usage(None, None) is None
    state = stream.resume(RESPONSE, sequence_start=0)
    state.usage_before = first
    stream.on_chunk(state, {"choices": [], "usage": second})
    usage = stream.finish(state)[-1]["response"]["usage"]
    assert (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["input_tokens_details"]["cached_tokens"],
    ) == (13, 6, 1)

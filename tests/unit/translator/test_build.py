"""The translator's pure build (services/translator/build.py): a request and what was loaded for it in,
the chat call or the failed response's events out."""

from services.translator.build import chat_call
from shared.events import ChatCallRequested, ResponseRequested
from shared.readmodel.chains import Loaded
from shared.request_model import ResponseCreateRequest

TURN = {
    "input_items": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    "response": {
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "hello", "annotations": []}],
            }
        ]
    },
}


def requested(**fields) -> ResponseRequested:
    request = ResponseCreateRequest(model="m1", **fields)
    return ResponseRequested(
        event_id="evt_r", response_id="resp_1", tenant="t", request=request, created_at=7, affinity="m1#2"
    )


def test_the_chat_call_follows_the_loaded_chain_and_carries_the_affinity():
    event = requested(input="and now?", previous_response_id="resp_0", background=True)
    [call] = chat_call(event, Loaded(history=[TURN]), replay_reasoning=False)
    assert isinstance(call, ChatCallRequested)
    assert call.chat["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]
    assert (call.affinity, call.sequence_start, call.response["status"]) == ("m1#2", 1, "in_progress")


def test_a_reference_to_an_item_that_was_not_loaded_fails_the_response_as_a_400():
    event = requested(input=[{"type": "item_reference", "id": "msg_gone"}])
    events = chat_call(event, Loaded(), replay_reasoning=False)
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1].http_error is not None and events[-1].http_error["status"] == 400

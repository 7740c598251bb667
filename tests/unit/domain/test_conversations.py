"""The pure rules of conversations: item shapes, which events are turns, when a turn is appended."""

import pytest

from services.api import validation
from shared.domain import conversations, history
from shared.domain.requests import build_response
from shared.errors import InvalidRequest
from shared.events import ConversationItemsAdded, ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.request_model import MessageItem, ResponseCreateRequest


def _requested(response_id: str, **request) -> ResponseRequested:
    return ResponseRequested(
        event_id=f"evt_{response_id}",
        response_id=response_id,
        tenant="t",
        request=ResponseCreateRequest(model="m", input="hi", **request),
        created_at=1,
    )


def _ended(response_id: str, status: str, *, conversation: str | None = "conv_1") -> ResponseStreamed:
    response = {"id": response_id, "status": status, "output": [{"id": "msg_out", "type": "message"}]}
    if conversation:
        response["conversation"] = {"id": conversation}
    payload = {"type": f"response.{status}", "sequence_number": 5, "response": response}
    return ResponseStreamed.of(payload, response_id=response_id, tenant="t")


def test_new_items_get_derived_ids_parts_and_a_status():
    items = [
        MessageItem(role="user", content="hi"),
        MessageItem(role="assistant", content="yo", id="msg_given"),
    ]
    stored = conversations.new_items(items, owner_id="evt_1")
    assert stored[0] == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
        "id": derived_id("msg", "evt_1", "input", 0),
        "status": "completed",
    }
    assert stored[1]["id"] == "msg_given"
    assert stored[1]["content"] == [{"type": "output_text", "text": "yo", "annotations": []}]
    assert conversations.new_items(items, owner_id="evt_1") == stored  # a replay keeps the ids


@pytest.mark.parametrize("conversation", ["conv_1", {"id": "conv_1"}])
def test_either_form_of_conversation_names_the_turn(conversation):
    event = _requested("resp_1", conversation=conversation)
    assert conversations.turn_of(event) == ("conv_1", "resp_1")
    assert build_response(event.request, response_id="resp_1", created_at=1)["conversation"] == {
        "id": "conv_1"
    }
    assert "conversation" not in build_response(
        _requested("resp_2").request, response_id="resp_2", created_at=1
    )


def test_only_requests_and_ends_of_conversation_turns_are_halves():
    assert conversations.turn_of(_requested("resp_1")) is None
    assert conversations.turn_of(_ended("resp_1", "completed", conversation=None)) is None
    assert conversations.turn_of(_ended("resp_1", "completed")) == ("conv_1", "resp_1")
    in_progress = _ended("resp_1", "in_progress")
    assert conversations.turn_write(in_progress) is None


def test_a_turn_is_appended_only_once_both_halves_are_parked():
    doc = {"_id": "conv_1", "tenant": "t", "turns": {"resp_1": {"input": [{"id": "a"}]}}}
    assert conversations.turn_completion(doc, "resp_1") is None
    doc["turns"]["resp_1"].update(output=[{"id": "b"}], ended=True)
    write = conversations.turn_completion(doc, "resp_1")
    assert write.filter["appended"] == {"$ne": "resp_1"}
    assert write.update["$push"] == {"items": {"$each": [{"id": "a"}, {"id": "b"}]}}
    assert write.update["$unset"] == {"turns.resp_1": ""}
    assert not write.upsert


def test_a_turn_that_did_not_complete_is_closed_without_items():
    half = conversations.turn_write(_ended("resp_1", "failed"))
    assert half.update["$set"] == {"turns.resp_1.output": None, "turns.resp_1.ended": True}
    doc = {
        "_id": "conv_1",
        "tenant": "t",
        "turns": {"resp_1": {"input": [{"id": "a"}], "output": None, "ended": True}},
    }
    write = conversations.turn_completion(doc, "resp_1")
    assert "$push" not in write.update and write.update["$addToSet"] == {"appended": "resp_1"}


def test_an_incomplete_turn_keeps_its_output():
    half = conversations.turn_write(_ended("resp_1", "incomplete"))
    assert half.update["$set"]["turns.resp_1.output"] == [{"id": "msg_out", "type": "message"}]


def test_the_store_signals_which_conversation_event_it_projected():
    added = ConversationItemsAdded(event_id="evt_9", response_id="conv_1", tenant="t", items=[])
    assert conversations.projected_signal(added) == {"event_id": "evt_9"}
    assert conversations.projected_signal(_ended("resp_1", "completed")) is None


def test_conversation_items_are_the_history_before_the_input():
    items = conversations.new_items([MessageItem(role="user", content="earlier")], owner_id="evt_1")
    items.append({"id": "msg_2", "type": "message", "role": "assistant", "status": "completed",
                  "content": [{"type": "output_text", "text": "answer", "annotations": []}]})  # fmt: skip
    messages = history.fold_history([{"input_items": items}])
    assert [(m["role"], m["content"]) for m in messages] == [("user", "earlier"), ("assistant", "answer")]


def test_conversation_and_previous_response_id_are_refused_together():
    request = ResponseCreateRequest(
        model="m", input="hi", conversation="conv_1", previous_response_id="resp_1"
    )
    with pytest.raises(InvalidRequest) as refused:
        validation.check_one_history(request)
    assert (refused.value.status, refused.value.param) == (400, "conversation")
    validation.check_one_history(ResponseCreateRequest(model="m", input="hi", conversation="conv_1"))

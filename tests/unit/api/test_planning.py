"""What the api decides for a create (services/api/planning.py), without a server."""

import pytest

from services.api.planning import Answer, PreviousTurn, plan_create, previous_turn
from shared.errors import InvalidRequest
from shared.events import ResponseRequested, ResponseStreamed
from shared.request_model import ResponseCreateRequest

FIRST = PreviousTurn(chain=[], affinity=None)


def plan(previous: PreviousTurn = FIRST, **fields):
    body = ResponseCreateRequest(model="m1", input="hi", **fields)
    return plan_create(body, previous, response_id="resp_1", tenant="t", created_at=7, key_id="key_1")


def test_a_foreground_response_logs_its_request_and_answers_the_final_response_once_logged():
    planned = plan()
    [requested] = planned.events
    assert isinstance(requested, ResponseRequested) and requested.key_id == "key_1"
    # Reads the store has not caught up with read the log: no wait for the projection.
    assert planned.answer is Answer.FINAL and not planned.awaits_projection
    assert not plan(store=False).awaits_projection


def test_a_turn_of_a_conversation_is_answered_once_the_store_appended_it():
    assert plan(conversation="conv_1").awaits_projection
    assert plan(conversation="conv_1", store=False).awaits_projection


def test_a_streamed_response_is_answered_as_it_is_logged():
    assert plan(stream=True).answer is Answer.STREAM
    assert plan(stream=True, background=True).answer is Answer.STREAM


def test_a_background_response_logs_its_queued_state_first_and_answers_it():
    planned = plan(background=True)
    queued, requested = planned.events
    assert isinstance(queued, ResponseStreamed) and isinstance(requested, ResponseRequested)
    assert (queued.type, queued.sequence_number) == ("response.queued", 0)
    assert planned.answer is Answer.QUEUED
    assert planned.queued["status"] == "queued" and planned.queued["created_at"] == 7


def test_the_previous_turn_gives_the_chain_and_the_affinity():
    doc = {"chain": ["resp_a"], "served_by": "m1#2"}
    turn = previous_turn("resp_b", doc)
    assert turn == PreviousTurn(chain=["resp_a", "resp_b"], affinity="m1#2")
    requested = plan(turn, previous_response_id="resp_b").events[-1]
    assert (requested.chain, requested.affinity) == (["resp_a", "resp_b"], "m1#2")
    assert previous_turn(None, None) == FIRST


def test_a_previous_response_that_does_not_exist_is_the_clients_error():
    with pytest.raises(InvalidRequest) as raised:
        previous_turn("resp_gone", None)
    assert raised.value.code == "previous_response_not_found"
    assert raised.value.param == "previous_response_id"

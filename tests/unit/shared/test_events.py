"""The log's schemas (shared/events.py): every event parses back from its JSON as its own class and is
frozen; events as earlier versions logged them still parse (a stored event is never reshaped); a stream
event's id derives from its response and number, so a re-emitted copy is the same event; and the
terminal types are exactly the terminal statuses."""

import typing

import pytest
from pydantic import ValidationError

from shared import events, subjects
from shared.events import (
    ChatCallRequested,
    ResponseCancelRequested,
    ResponseDeleted,
    ResponseDeltas,
    ResponseRequested,
    ResponseStreamed,
    client_events,
)
from shared.request_model import ResponseCreateRequest

ENVELOPE = {"event_id": "evt_1", "response_id": "resp_1", "tenant": "key_abc"}
SAMPLES = [
    ResponseRequested(
        **ENVELOPE, request=ResponseCreateRequest(model="m", input="hi"), created_at=1, chain=["r0"]
    ),
    ChatCallRequested(
        **ENVELOPE,
        model="m",
        chat={"model": "up", "messages": [{"role": "user", "content": "hi"}]},
        response={"id": "resp_1", "status": "queued"},
        stream=True,
    ),
    ResponseCancelRequested(**ENVELOPE, key_id="key_k"),
    ResponseDeleted(**ENVELOPE, key_id="env:KEY_A"),
    ResponseStreamed.of(
        {"type": "response.output_text.delta", "sequence_number": 4, "delta": "Hi"},
        response_id="resp_1",
        tenant="key_abc",
    ),
    ResponseDeltas.of(
        [{"type": "response.output_text.delta", "sequence_number": n, "delta": "Hi"} for n in (5, 6)],
        response_id="resp_1",
        tenant="key_abc",
    ),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_event_parses_back_from_its_json_as_its_own_class(event):
    data = event.model_dump_json()
    parsed = events.parse_event(data.encode())
    assert type(parsed) is type(event)
    assert parsed == event
    assert events.parse_event_dict(event.model_dump(mode="json")) == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_events_are_frozen(event):
    with pytest.raises(ValidationError):
        event.tenant = "someone else"


# As earlier versions of the gateway logged them: the fields every version wrote.
LOGGED_BEFORE = [
    {
        "v": 1,
        "type": "gateway.response.requested",
        **ENVELOPE,
        "occurred_at": 1.5,
        "request": {"model": "m", "input": "hi"},
        "created_at": 1,
    },
    {
        "v": 1,
        "type": "gateway.chat.requested",
        **ENVELOPE,
        "occurred_at": 1.5,
        "model": "m",
        "chat": {"messages": []},
        "response": {},
        "stream": False,
    },
    {"v": 1, "type": "gateway.response.deleted", **ENVELOPE, "occurred_at": 1.5},
    {"v": 1, "type": "gateway.response.cancel_requested", **ENVELOPE, "occurred_at": 1.5},
    {
        "v": 1,
        "type": "response.completed",
        **ENVELOPE,
        "occurred_at": 1.5,
        "sequence_number": 9,
        "payload": {"type": "response.completed", "sequence_number": 9, "response": {"id": "resp_1"}},
    },
]


@pytest.mark.parametrize("wire", LOGGED_BEFORE, ids=lambda w: w["type"])
def test_events_logged_by_earlier_versions_still_parse(wire):
    event = events.parse_event_dict(wire)
    assert (event.event_id, event.response_id, event.tenant, event.occurred_at) == (
        "evt_1",
        "resp_1",
        "key_abc",
        1.5,
    )
    assert event.model_dump(mode="json")["type"] == wire["type"]


def test_an_unknown_type_is_refused():
    with pytest.raises(ValidationError):
        events.parse_event_dict({"type": "gateway.response.renamed", **ENVELOPE})


def test_a_stream_event_id_derives_from_its_response_and_number():
    payload = {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1"}}
    first = ResponseStreamed.of(payload, response_id="resp_1", tenant="t")
    again = ResponseStreamed.of(dict(payload), response_id="resp_1", tenant="t")
    assert first.event_id == again.event_id
    assert first.event_id != ResponseStreamed.of(payload, response_id="resp_2", tenant="t").event_id
    later = ResponseStreamed.of({**payload, "sequence_number": 1}, response_id="resp_1", tenant="t")
    assert first.event_id != later.event_id


def test_deltas_logged_together_are_the_events_each_would_have_been_alone():
    payloads = [
        {"type": "response.output_item.added", "sequence_number": 2, "item": {"id": "msg_1"}},
        {"type": "response.output_text.delta", "sequence_number": 3, "delta": "Hi"},
    ]
    together = ResponseDeltas.of(payloads, response_id="resp_1", tenant="t")
    alone = [ResponseStreamed.of(p, response_id="resp_1", tenant="t") for p in payloads]
    shown = client_events(together)
    assert [(e.event_id, e.type, e.sequence_number, e.payload) for e in shown] == [
        (e.event_id, e.type, e.sequence_number, e.payload) for e in alone
    ]
    # Its id is its first event's: a writer that logged that number alone or first collides with it.
    assert together.event_id == alone[0].event_id and not together.is_terminal
    assert client_events(alone[1]) == [alone[1]]
    with pytest.raises(TypeError):
        client_events(SAMPLES[0])
    with pytest.raises(ValidationError):  # one event is logged as itself
        ResponseDeltas.of(payloads[:1], response_id="resp_1", tenant="t")


def test_a_stream_event_keeps_the_clients_payload_untouched_and_internal_fields_apart():
    payload = {
        "type": "response.completed",
        "sequence_number": 7,
        "response": {"id": "r", "status": "completed"},
    }
    event = ResponseStreamed.of(
        payload, response_id="r", tenant="t", served_by="m#1", cost_usd=0.25, key_id="k"
    )
    assert (event.type, event.sequence_number, event.payload) == ("response.completed", 7, payload)
    assert (event.served_by, event.cost_usd, event.key_id) == ("m#1", 0.25, "k")
    assert "served_by" not in event.payload


def test_terminal_types_are_exactly_the_terminal_statuses():
    assert {f"response.{status}" for status in events.TERMINAL_STATUSES} == events.TERMINAL_TYPES
    for kind in typing.get_args(events.StreamEventType):
        event = ResponseStreamed.of({"type": kind, "sequence_number": 0}, response_id="r", tenant="t")
        assert event.is_terminal == (kind in events.TERMINAL_TYPES)


def test_every_terminal_and_state_type_is_a_stream_event_type():
    stream_types = set(typing.get_args(events.StreamEventType))
    assert events.TERMINAL_TYPES <= subjects.STATE_EVENT_TYPES <= stream_types

"""The worker's view of the log (services/worker/logged.py) on a real JetStream server: appended events
are acknowledged and read back as stored; a response's position says how far its log goes, whether its
output has begun and whether it has ended (any terminal event, even with a racing writer's events after
it); and whether its cancellation was asked for."""

import uuid

import pytest
from nats.js import JetStreamContext

from services.worker import toolsteps
from services.worker.logged import JetStreamLog, Position
from shared import eventlog
from shared.events import (
    ChatCallRequested,
    HostedCall,
    ResponseCancelRequested,
    ResponseDeltas,
    ResponseStreamed,
    StreamMessage,
    ToolCallsRequested,
    ToolLoop,
)

from ..store.samples import TENANT, response, streamed


@pytest.fixture
async def log(js: JetStreamContext) -> JetStreamLog:
    await eventlog.ensure_stream(js)
    return JetStreamLog(js)


def _response_id() -> str:
    return f"resp_{uuid.uuid4().hex[:12]}"


def _state(response_id: str, seq: int, kind: str) -> ResponseStreamed:
    status = {"created": "queued", "in_progress": "in_progress"}.get(kind, kind)
    return streamed(response_id, seq, kind, {"response": response(response_id, status)})


def _delta(response_id: str, seq: int, text: str = "Hi") -> ResponseStreamed:
    payload = {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}
    return streamed(response_id, seq, "output_text.delta", payload)


async def _append(log: JetStreamLog, *events: StreamMessage) -> list[int]:
    return [(await (await log.append(event))).seq for event in events]


async def test_an_appended_event_is_acknowledged_and_read_back_as_stored(log: JetStreamLog):
    event = _state(_response_id(), 0, "created")
    (sequence,) = await _append(log, event)
    assert await log.stored(sequence) == event


async def test_the_same_event_appended_twice_is_stored_once(log: JetStreamLog):
    event = _state(_response_id(), 0, "created")
    first = await (await log.append(event))
    again = await (await log.append(event))
    assert again.duplicate and again.seq == first.seq


async def test_a_response_with_nothing_logged_is_at_the_start(log: JetStreamLog):
    assert await log.position(_response_id()) == Position()
    assert not Position().output_begun and not Position().ended


async def test_an_opening_only_response_has_not_begun_its_output(log: JetStreamLog):
    response_id = _response_id()
    await _append(log, _state(response_id, 0, "created"), _state(response_id, 1, "in_progress"))
    position = await log.position(response_id)
    assert (position.last, position.last_type) == (1, "response.in_progress")
    assert not position.output_begun and not position.ended


async def test_a_delta_after_the_opening_begins_the_output(log: JetStreamLog):
    response_id = _response_id()
    await _append(log, _state(response_id, 0, "created"), _state(response_id, 1, "in_progress"))
    await _append(log, _delta(response_id, 2), _delta(response_id, 3))
    position = await log.position(response_id)
    assert (position.last, position.last_type) == (3, "response.output_text.delta")
    assert position.output_begun and not position.ended


async def test_deltas_logged_together_place_the_response_at_their_last(log: JetStreamLog):
    response_id = _response_id()
    await _append(log, _state(response_id, 0, "created"), _state(response_id, 1, "in_progress"))
    texts = [_delta(response_id, n).payload for n in (2, 3, 4)]
    await _append(log, ResponseDeltas.of(texts, response_id=response_id, tenant=TENANT))
    position = await log.position(response_id)
    assert (position.last, position.last_type) == (4, "response.output_text.delta")
    assert position.output_begun and not position.ended


async def test_a_terminal_event_ends_the_response_even_with_a_racing_writers_events_after_it(
    log: JetStreamLog,
):
    response_id = _response_id()
    await _append(log, _state(response_id, 0, "created"), _state(response_id, 1, "in_progress"))
    await _append(log, _state(response_id, 2, "completed"))
    await _append(log, _state(response_id, 3, "in_progress"), _delta(response_id, 4))  # the loser's
    position = await log.position(response_id)
    assert position.ended
    assert position.last == 4


async def test_positions_are_per_response(log: JetStreamLog):
    ended, running = _response_id(), _response_id()
    await _append(log, _state(ended, 0, "created"), _state(ended, 1, "completed"))
    await _append(log, _state(running, 0, "created"))
    assert (await log.position(ended)).ended
    assert not (await log.position(running)).ended


async def test_a_cancel_is_seen_once_it_is_logged(log: JetStreamLog, js: JetStreamContext):
    response_id = _response_id()
    assert not await log.cancel_requested(response_id)
    await eventlog.append(
        js, ResponseCancelRequested(event_id=f"evt_c_{response_id}", response_id=response_id, tenant=TENANT)
    )
    assert await log.cancel_requested(response_id)
    assert not await log.cancel_requested(_response_id())


async def test_the_loops_latest_step_is_the_last_one_handed_off(log: JetStreamLog):
    """A tool loop's steps share the chat call subject: the newest says how far the loop got, which a
    redelivered step reads to leave a loop that went on without it (services/worker/toolsteps.py)."""
    response_id = _response_id()
    assert await log.latest_step(response_id) is None
    first = ChatCallRequested(
        event_id=f"evt_{response_id}_call", response_id=response_id, tenant=TENANT, model="m", chat={},
        response={}, stream=False,
    )  # fmt: skip
    tools = ToolCallsRequested(
        event_id=f"evt_{response_id}_tools",
        response_id=response_id,
        tenant=TENANT,
        calls=[HostedCall(call_id="c", name="web_search", arguments="{}")],
        next_call=first.model_copy(update={"loop": ToolLoop(step=2)}),
    )
    for step in (first, tools):
        await log.hand_off(step)
    latest = await log.latest_step(response_id)
    assert latest == tools and toolsteps.step_of(latest) == 1
    assert toolsteps.step_of(first) == 0

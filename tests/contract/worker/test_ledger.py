"""A run's ledger (services/worker/ledger.py) over the real log (``logged.JetStreamLog`` on a JetStream
server): what it appends is stored once each, in order, before it says so; a second writer that reaches a
number this one already logged is superseded before it writes anything after it. Lost acks and re-sends
are driven by an in-memory log in tests/unit/worker/test_runs.py."""

import uuid

import pytest
from nats.js import JetStreamContext

from services.worker.ledger import Ledger, Patience, Superseded
from services.worker.logged import JetStreamLog
from shared import eventlog, subjects
from shared.events import ResponseStreamed

from ..store.samples import response, streamed


@pytest.fixture
async def log(js: JetStreamContext) -> JetStreamLog:
    await eventlog.ensure_stream(js)
    return JetStreamLog(js)


def _life(response_id: str, *, deltas: int) -> list[ResponseStreamed]:
    running = {"response": response(response_id, "in_progress")}
    events = [streamed(response_id, 0, "created", running), streamed(response_id, 1, "in_progress", running)]
    for n in range(deltas):
        payload = {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": f"w{n} "}
        events.append(streamed(response_id, 2 + n, "output_text.delta", payload))
    done = {"response": response(response_id, "completed")}
    events.append(streamed(response_id, 2 + deltas, "completed", done))
    return events


async def _stored(js: JetStreamContext, response_id: str) -> list[ResponseStreamed]:
    info = await js.stream_info(subjects.STREAM)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        event = await eventlog.decode(js, await js.get_msg(subjects.STREAM, sequence))
        if getattr(event, "response_id", None) == response_id:
            found.append(event)
    return found


async def test_every_event_is_stored_once_in_order_once_confirmed(log: JetStreamLog, js: JetStreamContext):
    response_id = f"resp_{uuid.uuid4().hex[:12]}"
    events = _life(response_id, deltas=20)
    ledger = Ledger(log)
    for event in events:
        await ledger.append(event)
    await ledger.confirm()
    assert await _stored(js, response_id) == events


async def test_a_second_writer_at_a_logged_number_is_superseded(log: JetStreamLog, js: JetStreamContext):
    response_id = f"resp_{uuid.uuid4().hex[:12]}"
    first = _life(response_id, deltas=3)
    ledger = Ledger(log)
    for event in first[:3]:
        await ledger.append(event)
    await ledger.confirm()

    rival = Ledger(log)
    with pytest.raises(Superseded, match="sequence number"):
        for event in first:  # the same numbers, hence the same event ids: a redelivered call's
            await rival.append(event)
        await rival.confirm()
    stored = await _stored(js, response_id)
    assert stored == first[:3]  # nothing of the rival's past the number it found taken
    assert not any(event.is_terminal for event in stored)


def test_patience_backs_off_doubling_up_to_its_cap():
    patience = Patience(ack_timeout_s=1.0, republishes=6, backoff_s=0.25, max_backoff_s=1.5)
    assert [patience.backoff(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 1.5, 1.5]

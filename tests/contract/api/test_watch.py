"""Following a response (services/api/watch.py) on a real nats-server: the live feed shows every event
as published, the stored feed the state events the log holds (its republished copies), and an end
whose copy never came is found in the log once the feed goes quiet. Deltas a worker logged as one
message are shown together, live and from the log."""

import pytest
from nats.js import JetStreamContext

from services.api.watch import Feed, ResponseWatch, replay
from shared import eventlog, subjects
from shared.events import ResponseDeltas
from tests.eventually import eventually

from ..store.samples import TENANT, lifecycle

DEADLINE_S = 10.0
STATES = subjects.STATE_EVENT_TYPES


@pytest.fixture
async def log(js: JetStreamContext) -> JetStreamContext:
    await eventlog.ensure_stream(js)
    return js


async def _open(js: JetStreamContext, response_id: str, feed: Feed) -> ResponseWatch:
    return await ResponseWatch.open(js._nc, js, response_id, feed=feed, follows_projection=False)


async def test_the_live_feed_shows_every_event_and_the_stored_feed_the_logged_states(log: JetStreamContext):
    events = lifecycle("resp_fed")
    copies = await log._nc.subscribe(subjects.stored_states("resp_fed"))
    async with (
        await _open(log, "resp_fed", Feed.LIVE) as live,
        await _open(log, "resp_fed", Feed.STORED) as stored,
    ):
        for event in events:
            await eventlog.append(log, event)
        shown = [event.type async for batch in live.events(deadline_s=DEADLINE_S) for event in batch]
        assert shown == [e.type for e in events[1:]]  # every client-facing event, in order
        end = await stored.terminal(deadline_s=DEADLINE_S)
    assert end.event_id == events[-1].event_id
    # The log's copies: its state events alone, each once stored, in order.
    republished = [await eventlog.decode(log, await copies.next_msg(timeout=DEADLINE_S)) for _ in range(3)]
    assert [e.event_id for e in republished] == [e.event_id for e in events if e.type in STATES]


async def test_an_end_whose_copy_never_came_is_read_from_the_log_once_the_feed_is_quiet(
    log: JetStreamContext,
):
    events = lifecycle("resp_missed")
    for event in events:  # all logged, their copies gone by before anyone listened
        await eventlog.append(log, event)
    async with await _open(log, "resp_missed", Feed.STORED) as stored:
        found = await stored.terminal(deadline_s=DEADLINE_S)
    assert found.event_id == events[-1].event_id


async def test_a_quiet_feed_whose_next_event_is_queued_is_not_taken_for_one_that_lost_it(
    log: JetStreamContext,
):
    """The event ending a silence can reach the log while the idle check looks it up, its live copy
    sitting in the queue: turning to the log then would cost a JetStream consumer per paused stream."""
    first = lifecycle("resp_paused")[1]
    async with await _open(log, "resp_paused", Feed.LIVE) as live:
        await eventlog.append(log, first)
        queued = live._events
        # The live copy precedes the append's ack on the connection; waited for all the same.
        await eventually(lambda: queued.pending_msgs, "the live copy is queued")
        assert not await live._log_is_past(first.sequence_number)
        await queued.next_msg(timeout=DEADLINE_S)  # now the copy is gone: a loss, as the log shows
        assert await live._log_is_past(first.sequence_number)


async def test_deltas_logged_as_one_message_are_shown_together_live_and_from_the_log(log: JetStreamContext):
    _, created, in_progress, _, completed = lifecycle("resp_together")
    texts = [
        {"type": "response.output_text.delta", "sequence_number": n, "delta": f"t{n}"} for n in (2, 3, 4)
    ]
    together = ResponseDeltas.of(texts, response_id="resp_together", tenant=TENANT)
    async with await _open(log, "resp_together", Feed.LIVE) as live:
        for event in (created, in_progress, together, completed):
            await eventlog.append(log, event)
        shown = [
            [(e.sequence_number, e.type) for e in batch] async for batch in live.events(deadline_s=DEADLINE_S)
        ]
    assert [[n for n, _ in batch] for batch in shown] == [[0], [1], [2, 3, 4], [9]]  # one write a message
    assert [t for _, t in shown[2]] == ["response.output_text.delta"] * 3
    # A client resuming after 3 (``starting_after``) gets the rest of that message, then the end.
    resumed = [
        [e.sequence_number for e in batch]
        async for batch in replay(log, "resp_together", after=3, deadline_s=DEADLINE_S)
    ]
    assert resumed == [[4], [9]]
    last = await eventlog.last_response_event(log, "resp_together")
    assert last is not None and last.event_id == completed.event_id

"""The sweeper: its decision (pure), then sweeps against a real JetStream log and MongoDB-wire server."""

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from pymongo.asynchronous.collection import AsyncCollection

from services.store.sweeper import Fail, Logged, Reproject, Sweeper, decide
from shared import eventlog, subjects
from shared.events import ResponseDeltas, ResponseStreamed
from shared.ids import derived_id
from shared.readmodel import repository

from .samples import CREATED_AT, TENANT, lifecycle, requested, response, streamed

DEADLINE_S, GRACE_S = 10.0, 5.0
LONG_AFTER = CREATED_AT + DEADLINE_S + GRACE_S + 1
MESSAGE = "too late"


def _doc(response_id: str, status: str = "queued") -> dict:
    return {
        "_id": response_id,
        "tenant": TENANT,
        "status": status,
        "response": response(response_id, status, background=True),
    }


def _queued(response_id: str) -> ResponseStreamed:
    return streamed(response_id, 0, "queued", {"response": response(response_id, "queued", background=True)})


def test_a_logged_end_is_projected_not_repeated():
    completed = lifecycle("resp_a")[-1]
    logged = Logged(state=completed, last_number=completed.sequence_number)
    assert decide(_doc("resp_a"), logged, key_id=None, message=MESSAGE) == Reproject(completed)


def test_a_queued_response_fails_numbered_after_its_last_event():
    queued = _queued("resp_q")
    decision = decide(_doc("resp_q"), Logged(state=queued, last_number=0), key_id="key_1", message=MESSAGE)
    assert isinstance(decision, Fail)
    failed = decision.event
    assert (failed.type, failed.sequence_number, failed.key_id) == ("response.failed", 1, "key_1")
    assert failed.event_id == derived_id("evt", "resp_q", 1)  # what a second sweeper derives too
    assert failed.payload["response"] == {
        **queued.payload["response"],
        "status": "failed",
        "error": {"code": "server_error", "message": MESSAGE},
    }
    assert failed.is_terminal and failed.tenant == TENANT


def test_numbering_follows_deltas_and_an_empty_log_starts_at_zero():
    running = lifecycle("resp_d")[2]  # in_progress, sequence 1; a delta went out at 5 since
    after_delta = decide(_doc("resp_d"), Logged(state=running, last_number=5), key_id=None, message=MESSAGE)
    assert isinstance(after_delta, Fail) and after_delta.event.sequence_number == 6
    assert after_delta.event.payload["response"]["id"] == "resp_d"
    nothing = decide(_doc("resp_e", "in_progress"), Logged(None, None), key_id=None, message=MESSAGE)
    assert isinstance(nothing, Fail) and nothing.event.sequence_number == 0
    assert nothing.event.payload["response"]["status"] == "failed"


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await eventlog.ensure_stream(js)
    yield js
    await nc.close()


def _sweeper(js: JetStreamContext, collection: AsyncCollection) -> Sweeper:
    return Sweeper(js, collection, usage_collection=None, ttl_s=3600, deadline_s=DEADLINE_S, grace_s=GRACE_S)


async def _log_and_project(js: JetStreamContext, collection: AsyncCollection, *events) -> None:
    """Log ``events`` and fold them in, as the store's consumer would have."""
    for event in events:
        await eventlog.append(js, event)
        await repository.fold(event, collection=collection, usage_collection=None, ttl_s=3600)


async def _states(js: JetStreamContext, response_id: str) -> list[ResponseStreamed]:
    sub = await js.subscribe(
        subjects.response_event_subjects(response_id)[0], stream=subjects.STREAM, ordered_consumer=True
    )
    found = []
    while True:
        try:
            found.append(await eventlog.decode(js, await sub.next_msg(timeout=0.5)))
        except nats.errors.TimeoutError:
            break
    await sub.unsubscribe()
    return found


async def test_an_overdue_queued_response_ends_failed_once(js, collection):
    rid = "resp_swept"
    await _log_and_project(js, collection, _queued(rid), requested(rid, background=True))

    early = await _sweeper(js, collection).sweep(now=CREATED_AT + DEADLINE_S)
    first, second = await asyncio.gather(
        _sweeper(js, collection).sweep(now=LONG_AFTER), _sweeper(js, collection).sweep(now=LONG_AFTER)
    )

    assert early.failed == [] and early.reprojected == []
    assert sorted([*first.failed, *second.failed]) == [rid]  # two sweepers, one effect
    states = await _states(js, rid)
    assert [(e.type, e.sequence_number) for e in states] == [("response.queued", 0), ("response.failed", 1)]
    # Until the store's consumer folds the failure in, a sweep does it from the log: here the second
    # sweeper, if it read the log after the first had appended, else the next sweep.
    await _sweeper(js, collection).sweep(now=LONG_AFTER)
    doc = await collection.find_one({"_id": rid})
    assert (doc["status"], doc["response"]["error"]["code"]) == ("failed", "server_error")
    assert (await _sweeper(js, collection).sweep(now=LONG_AFTER)).reprojected == []


async def test_a_response_that_ended_in_the_log_is_only_reprojected(js, collection):
    rid = "resp_lagging"
    events = lifecycle(rid)
    await _log_and_project(js, collection, *events[:-1])
    await eventlog.append(js, events[-1])  # completed, but not projected yet

    swept = await _sweeper(js, collection).sweep(now=LONG_AFTER)

    assert (swept.failed, swept.reprojected) == ([], [rid])
    assert (await collection.find_one({"_id": rid}))["status"] == "completed"
    assert [e.type for e in await _states(js, rid)][-1] == "response.completed"


class _Stale(Sweeper):
    """Reads the log as it stood before a worker logged its next event."""

    async def _logged(self, response_id: str) -> Logged:
        logged = await super()._logged(response_id)
        return Logged(state=logged.state, last_number=(logged.last_number or 0) - 1)


async def test_a_number_a_worker_logged_meanwhile_is_not_overwritten(js, collection):
    rid = "resp_raced"
    events = lifecycle(rid)
    await _log_and_project(js, collection, *events[:3])  # requested, created (0), in_progress (1)

    swept = await _Stale(
        js, collection, usage_collection=None, ttl_s=3600, deadline_s=DEADLINE_S, grace_s=GRACE_S
    ).sweep(now=LONG_AFTER)

    assert swept.failed == []  # its failed event at 1 was the worker's in_progress's number: dropped
    assert [e.type for e in await _states(js, rid)] == ["response.created", "response.in_progress"]


async def test_a_response_whose_worker_died_after_logging_deltas_together_fails_after_the_last(
    js, collection
):
    rid = "resp_deltas_then_died"
    asked, created, in_progress, _, _ = lifecycle(rid)
    texts = [{"type": "response.output_text.delta", "sequence_number": n, "delta": "x"} for n in (2, 3)]
    await _log_and_project(js, collection, asked, created, in_progress)
    await eventlog.append(js, ResponseDeltas.of(texts, response_id=rid, tenant=TENANT))

    swept = await _sweeper(js, collection).sweep(now=LONG_AFTER)

    assert swept.failed == [rid]
    assert [(e.type, e.sequence_number) for e in await _states(js, rid)][-1] == ("response.failed", 4)

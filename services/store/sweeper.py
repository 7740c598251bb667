"""The sweeper: a response still ``queued`` or ``in_progress`` well past its deadline is ended.

A run is bounded by ``REQUEST_DEADLINE_S`` in its worker, but a response can outlive it where no
worker is left to end it: its call was never taken (no worker running), the worker died and its call
ran out of deliveries, its events could not be logged. Every ``SWEEP_INTERVAL_S`` the store looks
for responses the projection still shows open ``REQUEST_DEADLINE_S + SWEEP_GRACE_S`` after they were
created (oldest first, at most ``LIMIT`` a sweep) and asks the log, which is the truth, where each
one stands:

- the log already ends it (a terminal state event): the projection only lags; the sweeper folds that
  event in itself (the same idempotent writes the store's consumer makes);
- else it appends ``response.failed`` (``server_error``), numbered after the last event logged on
  any of its subjects, built from the last logged state's Response (else the projection's).

Every replica may sweep; there is one effect. The failed event's id derives from (response id,
sequence number), like every stream event's, so JetStream keeps the first of any two appends of that
number within its duplicate window: of two sweepers, and of a sweeper and a late worker (whose own
append of that number is then refused as a duplicate, and which stops writing: services/worker/
ledger.py). An append answered as a duplicate means someone else wrote that number; the response is
looked at again in the next sweep.
"""

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared import eventlog, subjects
from shared.domain import sequence
from shared.events import Event, ResponseRequested, ResponseStreamed, StreamMessage, client_events
from shared.readmodel import repository

log = logging.getLogger(__name__)

Doc = dict[str, Any]

OPEN_STATUSES = ("queued", "in_progress")
# Responses looked at per sweep: each costs a few reads of the log, so a backlog is worked off over
# several sweeps rather than in one burst.
LIMIT = 100


@dataclass(frozen=True)
class Logged:
    """Where a response's log stands: its last state event (None when none is logged) and the highest
    sequence number logged on any of its subjects (None when nothing is)."""

    state: ResponseStreamed | None
    last_number: int | None


@dataclass(frozen=True)
class Reproject:
    """The log ends the response; the projection has not caught up with ``event``."""

    event: ResponseStreamed


@dataclass(frozen=True)
class Fail:
    """Nothing ended the response: append ``event``."""

    event: ResponseStreamed


def decide(doc: Doc, logged: Logged, *, key_id: str | None, message: str) -> Reproject | Fail:
    """Pure: what to do about an open response of the projection (``doc``) past its deadline."""
    if logged.state is not None and logged.state.is_terminal:
        return Reproject(logged.state)
    number = sequence.next_after(logged.last_number)
    known = logged.state.payload["response"] if logged.state is not None else doc["response"]
    response = {**known, "status": "failed", "error": {"code": "server_error", "message": message}}
    payload = {"type": "response.failed", "sequence_number": number, "response": response}
    return Fail(ResponseStreamed.of(payload, response_id=doc["_id"], tenant=doc["tenant"], key_id=key_id))


def overdue_filter(before: float) -> Doc:
    """Open responses created before ``before`` (epoch seconds)."""
    return {"status": {"$in": list(OPEN_STATUSES)}, "response.created_at": {"$lt": before}}


@dataclass
class Swept:
    failed: list[str]
    reprojected: list[str]


class Sweeper:
    """One replica's sweeps over the projection ``collection`` (and its ``usage_collection``)."""

    def __init__(
        self,
        js: JetStreamContext,
        collection: AsyncCollection,
        *,
        usage_collection: AsyncCollection | None,
        ttl_s: int,
        deadline_s: float,
        grace_s: float,
        limit: int = LIMIT,
    ) -> None:
        self._js = js
        self._collection = collection
        self._usage = usage_collection
        self._ttl_s = ttl_s
        self._deadline_s = deadline_s
        self._overdue_s = deadline_s + grace_s
        self._limit = limit

    async def run(self, interval_s: float) -> None:
        """Sweep every ``interval_s`` (jittered, so replicas spread out) until cancelled."""
        while True:
            await asyncio.sleep(interval_s * random.uniform(0.5, 1.5))
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed; trying again in the next one")

    async def sweep(self, now: float | None = None) -> Swept:
        before = (time.time() if now is None else now) - self._overdue_s
        fields = {"tenant": 1, "status": 1, "response": 1}
        cursor = self._collection.find(overdue_filter(before), fields)
        docs = await cursor.sort("response.created_at", ASCENDING).limit(self._limit).to_list()
        swept = Swept(failed=[], reprojected=[])
        for doc in docs:
            try:
                await self._end(doc, swept)
            except Exception as error:
                log.error("sweeping %s failed: %r", doc["_id"], error)
        return swept

    async def _end(self, doc: Doc, swept: Swept) -> None:
        response_id = doc["_id"]
        message = f"The response did not finish within its {self._deadline_s:.0f}s deadline."
        requested = await self._last(subjects.requested(response_id))
        key_id = requested.key_id if isinstance(requested, ResponseRequested) else None
        match decide(doc, await self._logged(response_id), key_id=key_id, message=message):
            case Reproject(event):
                # What the store's consumer does with it, short of signalling: nobody waits this late.
                await repository.fold(
                    event, collection=self._collection, usage_collection=self._usage, ttl_s=self._ttl_s
                )
                swept.reprojected.append(response_id)
                log.warning("%s: the projection lagged behind its logged %s", response_id, event.type)
            case Fail(event):
                ack = await eventlog.append(self._js, event)
                if ack.duplicate:
                    log.info("%s: sequence %d was logged meanwhile", response_id, event.sequence_number)
                    return
                swept.failed.append(response_id)
                log.warning("%s: still %s past its deadline; ended failed", response_id, doc["status"])

    async def _logged(self, response_id: str) -> Logged:
        state_subject, delta_subject = subjects.response_event_subjects(response_id)
        state, delta = await self._last(state_subject), await self._last(delta_subject)
        # The last delta message may hold several (``ResponseDeltas``): its last one counts.
        found = [client_events(e)[-1] for e in (state, delta) if isinstance(e, StreamMessage)]
        last_number = max((e.sequence_number for e in found), default=None)
        return Logged(state=state if isinstance(state, ResponseStreamed) else None, last_number=last_number)

    async def _last(self, subject: str) -> Event | None:
        try:
            raw = await self._js.get_last_msg(subjects.STREAM, subject)
        except NotFoundError:
            return None
        return await eventlog.decode(self._js, raw)

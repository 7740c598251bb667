"""Read-your-writes (shared/readmodel/fresh.py) against a real nats-server and the MongoDB stand-in: what
the store has not projected yet is read from the log, folded by the projection's own rules; what it
has settled is read from the projection alone."""

import time

import nats.errors
import pytest
from nats.js import JetStreamContext
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared import eventlog, retries
from shared.errors import ServiceUnavailable
from shared.readmodel import fresh, turns

from ..store.samples import TENANT, assistant_message, deleted, lifecycle
from ..store.test_queries import OTHER_TENANT, project_all

# The samples are dated 2023: a TTL this long keeps them alive.
LONG_TTL_S = 10**9


@pytest.fixture
async def log(js: JetStreamContext) -> fresh.LogReads:
    await eventlog.ensure_stream(js)
    return fresh.LogReads(js, LONG_TTL_S)


async def _logged(js: JetStreamContext, events) -> None:
    for event in events:
        await eventlog.append(js, event)


async def test_a_response_the_store_has_not_projected_reads_from_the_log(
    db: AsyncDatabase, log: fresh.LogReads
):
    await _logged(log.js, lifecycle("resp_log_only", text="From the log"))
    doc = await fresh.response_doc(db, log, tenant=TENANT, response_id="resp_log_only")
    assert doc is not None and turns.settled(doc)
    assert doc["response"]["output"] == [assistant_message("resp_log_only", "From the log")]
    assert [item["content"] for item in doc["input_items"]] == [[{"type": "input_text", "text": "Hello"}]]
    # Without the log, the projection alone knows nothing of it.
    assert await fresh.response_doc(db, None, tenant=TENANT, response_id="resp_log_only") is None


async def test_an_unfinished_projection_is_caught_up_with_the_logged_end(
    db: AsyncDatabase, collection: AsyncCollection, log: fresh.LogReads
):
    events = lifecycle("resp_behind")
    # The store has the request and the opening only.
    await project_all(collection, events[:2], ttl_s=LONG_TTL_S)
    await _logged(log.js, events)
    projected = await fresh.response_doc(db, None, tenant=TENANT, response_id="resp_behind")
    assert projected is not None and projected["status"] == "in_progress"
    doc = await fresh.response_doc(db, log, tenant=TENANT, response_id="resp_behind")
    assert doc is not None and doc["status"] == "completed"


@pytest.mark.parametrize("case", ["deleted", "foreign", "expired", "unknown", "unstored"])
async def test_what_the_projection_would_not_show_the_log_does_not_show_either(
    db: AsyncDatabase, log: fresh.LogReads, case: str
):
    rid, tenant, reads = f"resp_{case}", TENANT, log
    events = lifecycle(rid, store=case != "unstored")
    if case == "deleted":
        events.append(deleted(rid))
    if case == "foreign":
        tenant = OTHER_TENANT
    if case == "expired":
        reads = fresh.LogReads(log.js, ttl_s=int(time.time()) - events[0].created_at - 60)
    if case != "unknown":
        await _logged(log.js, events)
    assert await fresh.response_doc(db, reads, tenant=tenant, response_id=rid) is None


class _Untouchable:
    def __getattr__(self, name: str):
        raise AssertionError(f"the log was read ({name}) for a settled document")


async def test_a_settled_document_costs_no_lookup_in_the_log(db: AsyncDatabase, collection: AsyncCollection):
    await project_all(collection, lifecycle("resp_settled"))
    untouchable = fresh.LogReads(_Untouchable(), LONG_TTL_S)  # type: ignore[arg-type]
    doc = await fresh.response_doc(db, untouchable, tenant=TENANT, response_id="resp_settled")
    assert doc is not None and doc["status"] == "completed"
    [turn] = await fresh.chain_docs(db, untouchable, tenant=TENANT, ids=["resp_settled"])
    assert turn["_id"] == "resp_settled"


class _Electing:
    """The log during a leader election: its first ``silent`` lookups get no answer."""

    def __init__(self, js: JetStreamContext, silent: int) -> None:
        self._js = js
        self.silent = silent

    async def get_last_msg(self, *args, **kwargs):
        if self.silent > 0:
            self.silent -= 1
            raise nats.errors.TimeoutError
        return await self._js.get_last_msg(*args, **kwargs)


async def test_a_log_that_cannot_tell_is_asked_again_and_never_read_as_none(
    db: AsyncDatabase, log: fresh.LogReads, monkeypatch: pytest.MonkeyPatch
):
    """A response only logged, read while its stream has no leader: "not known now" is not "none"."""
    monkeypatch.setattr(fresh, "_LOOKUP_BUDGET", retries.Budget(total_s=1.0, first_delay_s=0.05))
    await _logged(log.js, lifecycle("resp_electing"))
    through = fresh.LogReads(_Electing(log.js, silent=3), LONG_TTL_S)  # type: ignore[arg-type]
    doc = await fresh.response_doc(db, through, tenant=TENANT, response_id="resp_electing")
    assert doc is not None and doc["status"] == "completed"
    # An election that outlasts the budget: unavailable, which the api answers with a 503.
    silent = fresh.LogReads(_Electing(log.js, silent=10**6), LONG_TTL_S)  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailable):
        await fresh.response_doc(db, silent, tenant=TENANT, response_id="resp_electing")
    with pytest.raises(ServiceUnavailable):
        await fresh.chain_docs(db, silent, tenant=TENANT, ids=["resp_electing"])


async def test_a_chain_whose_last_turn_is_only_logged_is_read_whole_in_order(
    db: AsyncDatabase, collection: AsyncCollection, log: fresh.LogReads
):
    await project_all(collection, lifecycle("resp_first", text="One"))
    await _logged(log.js, lifecycle("resp_second", text="Two"))
    ids = ["resp_first", "resp_second", "resp_nowhere"]
    turns = await fresh.chain_docs(db, log, tenant=TENANT, ids=ids)
    assert [turn["_id"] for turn in turns] == ["resp_first", "resp_second"]
    assert turns[1]["response"]["output"] == [assistant_message("resp_second", "Two")]
    assert await fresh.chain_docs(db, None, tenant=TENANT, ids=ids) == turns[:1]


async def test_turns_held_in_memory_are_not_read_again(
    db: AsyncDatabase, collection: AsyncCollection, log: fresh.LogReads
):
    await project_all(collection, lifecycle("resp_held"), ttl_s=LONG_TTL_S)
    await _logged(log.js, lifecycle("resp_logged"))
    cache, ids = turns.TurnCache(), ["resp_held", "resp_logged"]
    first = await fresh.chain_docs(db, log, tenant=TENANT, ids=ids, cache=cache)
    assert [turn["_id"] for turn in first] == ids and len(cache) == 2  # read from MongoDB and the log
    await collection.delete_many({})  # neither is read again: held, they need not be
    assert await fresh.chain_docs(db, None, tenant=TENANT, ids=ids, cache=cache) == first
    assert await fresh.chain_docs(db, None, tenant="someone else", ids=ids, cache=cache) == []

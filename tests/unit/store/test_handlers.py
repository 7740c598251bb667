"""The store's wiring on a real JetStream server: log in, projection and signals out."""

import json
from collections.abc import Awaitable, Callable

import pytest
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from services.store import handlers, queries
from shared import eventlog, subjects

from .samples import TENANT, deleted, lifecycle
from .waiting import WAIT_S, store_caught_up

RID = "resp_wired"


@pytest.fixture
async def store(
    start_store: Callable[[AsyncCollection], Awaitable[NatsBroker]], collection: AsyncCollection
) -> NatsBroker:
    return await start_store(collection)


class _FailingOnce:
    """A collection whose first write fails as if MongoDB had stepped away."""

    def __init__(self, collection: AsyncCollection) -> None:
        self._collection = collection
        self.failures = 0

    async def update_one(self, *args: object, **kwargs: object) -> object:
        if not self.failures:
            self.failures += 1
            raise AutoReconnect("connection reset")
        return await self._collection.update_one(*args, **kwargs)


async def test_the_log_is_projected_and_the_api_signalled(store: NatsBroker, db: AsyncDatabase) -> None:
    nc = store.connection
    js: JetStreamContext = nc.jetstream()
    signals = await nc.subscribe(subjects.projected(RID))
    # An unreadable message first: it must be dropped, not block or loop.
    await js.publish(subjects.requested("resp_garbage"), b"{not json", stream=subjects.STREAM)

    for event in lifecycle(RID):
        await eventlog.append(js, event)
    signal = await signals.next_msg(timeout=WAIT_S)

    assert json.loads(signal.data) == {"status": "completed"}
    doc = await queries.get_response_doc(db, tenant=TENANT, response_id=RID)
    assert (doc["status"], doc["response"]["output"][0]["content"][0]["text"]) == ("completed", "Hi there")

    await eventlog.append(js, deleted(RID))
    signal = await signals.next_msg(timeout=WAIT_S)

    assert json.loads(signal.data) == {"status": "deleted"}
    assert await queries.get_response_doc(db, tenant=TENANT, response_id=RID) is None
    consumer = await store_caught_up(js)
    assert consumer.config.filter_subjects == handlers.FILTER_SUBJECTS
    assert consumer.num_redelivered == 0


async def test_health_pings_are_answered(store: NatsBroker) -> None:
    reply = await store.connection.request(subjects.health("store"), b"", timeout=WAIT_S)
    assert reply.data == b"ok"


async def test_a_failed_write_is_retried_not_lost(
    start_store: Callable[[AsyncCollection], Awaitable[NatsBroker]],
    collection: AsyncCollection,
    db: AsyncDatabase,
) -> None:
    flaky = _FailingOnce(collection)
    broker = await start_store(flaky)
    js = broker.connection.jetstream()
    signals = await broker.connection.subscribe(subjects.projected("resp_retried"))
    events = lifecycle("resp_retried")

    await eventlog.append(js, events[-1])
    signal = await signals.next_msg(timeout=WAIT_S)

    assert json.loads(signal.data) == {"status": "completed"}
    assert flaky.failures == 1
    doc = await queries.get_response_doc(db, tenant=TENANT, response_id="resp_retried")
    assert doc["status"] == "completed"

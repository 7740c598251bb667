"""The store's wiring on a real JetStream server: log in, projection and signals out."""

import json
from collections.abc import Awaitable, Callable

import pytest
from bson.errors import InvalidDocument
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from services.store import durable, handlers
from shared import deadletter, eventlog, subjects
from shared.domain import projection
from shared.readmodel import queries

from .samples import TENANT, deleted, lifecycle
from .waiting import WAIT_S, store_caught_up

RID = "resp_wired"


@pytest.fixture
async def store(
    start_store: Callable[[AsyncCollection], Awaitable[NatsBroker]], collection: AsyncCollection
) -> NatsBroker:
    return await start_store(collection)


class _Unstorable:
    """A collection that refuses every write as BSON refuses data it cannot hold."""

    def __init__(self) -> None:
        self.writes = 0

    async def update_one(self, *args: object, **kwargs: object) -> object:
        self.writes += 1
        raise InvalidDocument("key 'a\\x00b' must not contain null bytes")

    bulk_write = update_one  # the store sends its writes in bulk (shared/readmodel/bulk.py)


async def _dead_letters(js: JetStreamContext, original_subject: str) -> list[deadletter.Letter]:
    return [letter async for letter in deadletter.letters(js) if letter.original_subject == original_subject]


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

    async def bulk_write(self, *args: object, **kwargs: object) -> object:
        if not self.failures:
            self.failures += 1
            raise AutoReconnect("connection reset")
        return await self._collection.bulk_write(*args, **kwargs)


async def test_the_log_is_projected_and_the_api_signalled(store: NatsBroker, db: AsyncDatabase) -> None:
    nc = store.connection
    js: JetStreamContext = nc.jetstream()
    signals = await nc.subscribe(subjects.projected(RID))
    garbage = await nc.subscribe(subjects.projected("resp_garbage"))
    # An unreadable message first: it must be dead-lettered, not block or loop.
    await js.publish(subjects.requested("resp_garbage"), b"{not json", stream=subjects.STREAM)

    for event in lifecycle(RID):
        await eventlog.append(js, event)
    await store_caught_up(js)
    # Nobody waits for a response outside a conversation (shared/readmodel/fresh.py): no signal.
    with pytest.raises(TimeoutError):
        await signals.next_msg(timeout=0.2)
    doc = await queries.get_response_doc(db, tenant=TENANT, response_id=RID)
    assert (doc["status"], doc["response"]["output"][0]["content"][0]["text"]) == ("completed", "Hi there")

    await eventlog.append(js, deleted(RID))
    signal = await signals.next_msg(timeout=WAIT_S)

    assert json.loads(signal.data) == {"status": "deleted"}
    assert await queries.get_response_doc(db, tenant=TENANT, response_id=RID) is None
    consumer = await store_caught_up(js)
    assert consumer.config.filter_subjects == durable.FILTER_SUBJECTS
    assert consumer.config.deliver_subject == durable.DELIVER_SUBJECT  # a push consumer
    assert consumer.num_redelivered == 0
    # The garbage was delivered once, dead-lettered with its reason, and any api waiting was told.
    assert json.loads((await garbage.next_msg(timeout=WAIT_S)).data) == projection.UNSTORED
    [letter] = await _dead_letters(js, subjects.requested("resp_garbage"))
    assert (letter.consumer, letter.deliveries, letter.data) == (handlers.DURABLE, 1, b"{not json")
    assert "ValidationError" in letter.reason


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
    events = lifecycle("resp_retried")

    await eventlog.append(js, events[-1])
    await store_caught_up(js)

    assert flaky.failures == 1
    doc = await queries.get_response_doc(db, tenant=TENANT, response_id="resp_retried")
    assert doc["status"] == "completed"


async def test_data_mongodb_cannot_hold_is_dead_lettered_once_and_the_api_told(
    start_store: Callable[[AsyncCollection], Awaitable[NatsBroker]],
) -> None:
    refusing = _Unstorable()
    broker = await start_store(refusing)
    nc = broker.connection
    js = nc.jetstream()
    signals = await nc.subscribe(subjects.projected("resp_unstorable"))
    request = lifecycle("resp_unstorable")[0]

    await eventlog.append(js, request)
    signal = await signals.next_msg(timeout=WAIT_S)

    assert json.loads(signal.data) == projection.UNSTORED
    await store_caught_up(js)
    assert refusing.writes == 1  # permanent: never retried
    [letter] = await _dead_letters(js, subjects.requested("resp_unstorable"))
    assert "InvalidDocument" in letter.reason and letter.deliveries == 1


def test_the_response_of_a_log_subject():
    assert handlers.response_id_of(subjects.requested("resp_1")) == "resp_1"
    assert handlers.response_id_of(subjects.response_event("resp_1", "response.completed")) == "resp_1"
    assert handlers.response_id_of("resp.x") is None
    assert handlers.response_id_of("other.resp_1.state") is None

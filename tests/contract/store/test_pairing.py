"""A foreground response's request held for its end (``services.store.pairing``), on a real
MongoDB-wire server: the pair is one insert that ends as the events written one by one would, and
whatever keeps the end away, the request is still written."""

import asyncio

import pytest
from pymongo import InsertOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from services.store.pairing import Pairing
from shared.domain import projection
from shared.events import Event, ResponseRequested
from shared.ids import derived_id
from shared.readmodel import repository
from shared.request_model import ResponseCreateRequest

from .samples import CREATED_AT, TENANT, deleted, lifecycle, requested

TTL_S = 3600
RID = "resp_paired"
# Longer than any test waits: a request still held after it is a request that was held.
FOREVER_S = 60.0


class _Recording:
    """The collection, recording the operations of every bulk write; ``failing`` ones raise."""

    def __init__(self, collection: AsyncCollection, failing: type | None = None) -> None:
        self._collection = collection
        self._failing = failing
        self.ops: list[object] = []

    async def bulk_write(self, ops: list, **kwargs: object) -> object:
        self.ops += ops
        if self._failing is not None and any(isinstance(op, self._failing) for op in ops):
            raise AutoReconnect("the server went away")
        return await self._collection.bulk_write(ops, **kwargs)


def _pairing(collection: object, *, capacity: int = 8, hold_s: float = FOREVER_S) -> Pairing:
    projector = repository.Projector(collection, usage_collection=None, ttl_s=TTL_S)  # type: ignore[arg-type]
    return Pairing(projector, capacity=capacity, hold_s=hold_s)


async def _one_by_one(collection: AsyncCollection, events: list[Event]) -> dict | None:
    await collection.delete_many({})
    for event in events:
        if (write := projection.write_for(event, ttl_s=TTL_S)) is not None:
            await repository.apply(collection, write)
    found = await collection.find_one({"_id": RID})
    await collection.delete_many({})
    return found


async def _held(pairing: Pairing, request: ResponseRequested) -> asyncio.Task[None]:
    task = asyncio.create_task(pairing.fold(request))
    await asyncio.sleep(0.05)
    assert not task.done(), "the request was not held"
    return task


async def _one_held(collection: AsyncCollection) -> tuple[list[Event], Pairing, asyncio.Task[None]]:
    """A response's events, and a pairing holding its request (the first of them)."""
    events = lifecycle(RID)
    pairing = _pairing(collection)
    return events, pairing, await _held(pairing, events[0])


async def test_a_request_and_its_end_are_one_insert_that_ends_as_their_writes(
    collection: AsyncCollection,
) -> None:
    events = lifecycle(RID)
    expected = await _one_by_one(collection, events)
    recording = _Recording(collection)
    pairing = _pairing(recording)

    holding = await _held(pairing, events[0])
    for event in events[1:]:
        await pairing.fold(event)
    await asyncio.wait_for(holding, 5)

    assert await collection.find_one({"_id": RID}) == expected
    assert [type(op) for op in recording.ops] == [InsertOne]


async def test_a_request_whose_end_does_not_come_in_time_is_written_alone(
    collection: AsyncCollection,
) -> None:
    events = lifecycle(RID)
    pairing = _pairing(collection, hold_s=0.05)

    await asyncio.wait_for(pairing.fold(events[0]), 5)
    assert (await collection.find_one({"_id": RID}))["status"] == "in_progress"
    for event in events[1:]:
        await pairing.fold(event)

    assert await collection.find_one({"_id": RID}) == await _one_by_one(collection, events)


async def test_a_deletion_while_the_request_is_held_is_not_undone_by_its_end(
    collection: AsyncCollection,
) -> None:
    events, deletion = lifecycle(RID), deleted(RID)
    pairing = _pairing(collection)

    holding = await _held(pairing, events[0])
    await pairing.fold(deletion)
    await pairing.fold(events[-1])
    await asyncio.wait_for(holding, 5)

    found = await collection.find_one({"_id": RID})
    assert found == await _one_by_one(collection, [deletion, *events])
    assert found is not None and found["deleted"] is True and "request" not in found


async def test_when_the_pair_cannot_be_written_the_end_fails_and_the_request_is_written_alone(
    collection: AsyncCollection,
) -> None:
    events = lifecycle(RID)
    pairing = _pairing(_Recording(collection, failing=InsertOne))

    holding = await _held(pairing, events[0])
    with pytest.raises(AutoReconnect):
        await pairing.fold(events[-1])
    await asyncio.wait_for(holding, 5)

    assert await collection.find_one({"_id": RID}) == await _one_by_one(collection, events[:1])


async def test_the_holder_goes_on_as_soon_as_its_end_is_written(collection: AsyncCollection) -> None:
    """Before anything its end's handler starts after it, such as the connection's flush: so the
    request's acknowledgement is sent with its end's, in one write."""
    events, pairing, holding = await _one_held(collection)

    await pairing.fold(events[-1])
    loop = asyncio.get_running_loop()
    holder_done_before = loop.create_future()
    loop.call_soon(lambda: holder_done_before.set_result(holding.done()))

    assert await holder_done_before


async def test_a_holder_cancelled_lets_its_request_go_and_its_end_is_written_alone(
    collection: AsyncCollection,
) -> None:
    events, pairing, holding = await _one_held(collection)

    holding.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holding
    await pairing.fold(events[-1])

    assert (await collection.find_one({"_id": RID}))["status"] == "completed"


async def test_a_holder_cancelled_while_its_end_writes_them_does_not_fail_the_end(
    collection: AsyncCollection,
) -> None:
    events, pairing, holding = await _one_held(collection)

    writing = asyncio.create_task(pairing.fold(events[-1]))
    await asyncio.sleep(0)  # the end has taken the request and is writing the pair
    holding.cancel()
    await asyncio.wait_for(writing, 5)

    assert (await collection.find_one({"_id": RID}))["request"]["input"] == events[0].request.input


async def test_requests_someone_reads_while_they_run_are_written_at_once(collection: AsyncCollection) -> None:
    turn = ResponseCreateRequest(model="m", input="Hi", conversation="conv_1")
    read_while_running = [
        requested(RID, background=True),
        ResponseRequested(
            event_id=derived_id("evt", RID, "requested"),
            response_id=RID,
            tenant=TENANT,
            request=turn,
            created_at=CREATED_AT,
        ),
    ]
    pairing = _pairing(collection)

    for request in read_while_running:
        await collection.delete_many({})
        await asyncio.wait_for(pairing.fold(request), 5)
        assert await collection.find_one({"_id": RID}) is not None


async def test_past_its_capacity_a_request_is_written_at_once(collection: AsyncCollection) -> None:
    pairing = _pairing(collection, capacity=1)

    holding = await _held(pairing, requested("resp_first"))
    await asyncio.wait_for(pairing.fold(requested(RID)), 5)

    assert await collection.find_one({"_id": RID}) is not None
    holding.cancel()

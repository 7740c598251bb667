"""The store's gathered writes (``shared.readmodel.bulk``) on a real MongoDB-wire server: what many
callers write at once goes out in fewer commands and ends as their writes one by one would."""

import asyncio

import pytest
from bson.errors import InvalidDocument
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import WriteError

from shared.domain import projection, usage
from shared.readmodel import bulk, repository

from .samples import deleted, lifecycle

TTL_S = 3600
# Longer than any test runs (pytest's timeout): a write that lingered its whole time would never end.
FOREVER_S = 3600.0


class _Counting:
    """The collection, counting the commands the writer sends and their operations."""

    def __init__(self, collection: AsyncCollection) -> None:
        self._collection = collection
        self.commands = 0
        self.ops: list[type] = []  # each operation's kind, in the order sent

    async def bulk_write(self, ops: list, **kwargs: object) -> object:
        self.commands += 1
        self.ops += [type(op) for op in ops]
        return await self._collection.bulk_write(ops, **kwargs)


async def _one_by_one(collection: AsyncCollection, writes: list[projection.Write]) -> list[dict]:
    await collection.delete_many({})
    for write in writes:
        await repository.apply(collection, write)
    return await collection.find().sort("_id").to_list()


async def test_concurrent_writes_share_commands_and_end_as_one_by_one(collection: AsyncCollection) -> None:
    events = [event for n in range(20) for event in lifecycle(f"resp_{n:02}")]
    writes = [w for e in events if (w := projection.write_for(e, ttl_s=TTL_S)) is not None]
    expected = await _one_by_one(collection, writes)
    await collection.delete_many({})
    counting = _Counting(collection)
    writer = bulk.GroupWriter(counting)  # type: ignore[arg-type]

    await asyncio.gather(*(writer.apply(w) for w in writes))

    assert await collection.find().sort("_id").to_list() == expected
    assert counting.commands < len(writes)


async def test_a_write_that_loses_an_insert_race_in_its_batch_still_applies(
    collection: AsyncCollection,
) -> None:
    events = lifecycle("resp_raced")
    request, completed = (projection.write_for(e, ttl_s=TTL_S) for e in (events[0], events[-1]))
    assert request is not None and completed is not None
    expected = await _one_by_one(collection, [request, completed])
    await collection.delete_many({})
    writer = bulk.GroupWriter(collection)

    # A redelivered terminal event in the same command: its guard no longer matches the document the
    # first one inserted, so its upsert meets the duplicate key.
    assert await asyncio.gather(writer.submit(completed), writer.submit(completed)) == [True, False]
    await collection.delete_many({})
    await asyncio.gather(writer.apply(completed), writer.apply(completed), writer.apply(request))

    assert await collection.find().sort("_id").to_list() == expected


async def test_an_error_fails_only_its_own_write(collection: AsyncCollection) -> None:
    await collection.delete_many({})
    writer = bulk.GroupWriter(collection)
    good = projection.Write(filter={"_id": "good"}, update={"$set": {"a": 1}})
    bad = projection.Write(filter={"_id": "bad"}, update={"$inc": {"a": "not a number"}})

    outcomes = await asyncio.gather(writer.apply(good), writer.apply(bad), return_exceptions=True)

    assert outcomes[0] is None
    assert isinstance(outcomes[1], WriteError)
    assert await collection.find_one({"_id": "good"}) == {"_id": "good", "a": 1}
    with pytest.raises(WriteError):
        await writer.apply(bad)


async def test_a_write_bson_cannot_hold_fails_alone(collection: AsyncCollection) -> None:
    await collection.delete_many({})
    writer = bulk.GroupWriter(collection)
    good = projection.Write(filter={"_id": "good"}, update={"$set": {"a": 1}})
    unencodable = projection.Write(filter={"_id": "nul"}, update={"$set": {"a\x00b": 1}})

    outcomes = await asyncio.gather(writer.apply(good), writer.apply(unencodable), return_exceptions=True)

    assert outcomes[0] is None
    assert isinstance(outcomes[1], InvalidDocument)
    assert await collection.find_one({"_id": "good"}) == {"_id": "good", "a": 1}


async def test_a_write_that_makes_its_document_is_an_insert_and_its_update_once_it_exists(
    collection: AsyncCollection,
) -> None:
    end = lifecycle("resp_used")[-1]
    write = usage.write_for(end)
    assert write is not None and write.insert is not None
    expected = await _one_by_one(collection, [write])
    await collection.delete_many({})
    counting = _Counting(collection)
    writer = bulk.GroupWriter(counting)  # type: ignore[arg-type]

    await writer.apply(write)
    assert counting.ops == [InsertOne]
    await writer.apply(write)  # delivered again: the insert meets the document, the update applies
    assert counting.ops == [InsertOne, InsertOne, UpdateOne]

    assert await collection.find().sort("_id").to_list() == expected


class _InFlight:
    """A collection whose commands count, with those of the others sharing ``shared``, how many are in
    flight at once; each command takes a little while, so overlapping ones do overlap."""

    def __init__(self, collection: AsyncCollection, shared: dict[str, int]) -> None:
        self._collection = collection
        self._shared = shared

    async def bulk_write(self, ops: list, **kwargs: object) -> object:
        self._shared["now"] += 1
        self._shared["most"] = max(self._shared["most"], self._shared["now"])
        try:
            await asyncio.sleep(0.02)
            return await self._collection.bulk_write(ops, **kwargs)
        finally:
            self._shared["now"] -= 1


async def test_the_projectors_response_and_usage_writes_never_overlap(db: AsyncDatabase) -> None:
    in_flight = {"now": 0, "most": 0}
    responses, used = (_InFlight(db[name], in_flight) for name in ("responses", "usage"))
    projector = repository.Projector(responses, usage_collection=used, ttl_s=TTL_S)  # type: ignore[arg-type]
    ends = [lifecycle(f"resp_{n:02}")[-1] for n in range(8)]

    await asyncio.gather(*(projector.fold(end) for end in ends))

    assert await db["responses"].count_documents({}) == len(ends)
    assert await db["usage"].count_documents({}) == len(ends)
    assert in_flight["most"] == 1


async def test_writes_queued_while_the_line_is_busy_go_out_in_one_command(
    collection: AsyncCollection,
) -> None:
    await collection.delete_many({})
    line = bulk.Line()
    busy = bulk.GroupWriter(_InFlight(collection, {"now": 0, "most": 0}), line=line)  # type: ignore[arg-type]
    counting = _Counting(collection)
    writer = bulk.GroupWriter(counting, line=line)  # type: ignore[arg-type]
    writes = [projection.Write(filter={"_id": f"w{n}"}, update={"$set": {"n": n}}) for n in range(5)]

    other = projection.Write(filter={"_id": "other"}, update={"$set": {"n": 0}})
    out = asyncio.ensure_future(busy.apply(other))
    await asyncio.sleep(0)  # the other writer's command is out
    waiting = []
    for write in writes:  # one at a time, as events come
        waiting.append(asyncio.ensure_future(writer.apply(write)))
        await asyncio.sleep(0)
    await asyncio.gather(out, *waiting)

    assert counting.commands == 1
    assert await collection.count_documents({}) == len(writes) + 1


def _numbered(count: int) -> list[projection.Write]:
    return [projection.Write(filter={"_id": f"w{n}"}, update={"$set": {"n": n}}) for n in range(count)]


async def test_a_lingering_writer_gathers_writes_that_come_one_at_a_time_until_an_urgent_one(
    collection: AsyncCollection,
) -> None:
    await collection.delete_many({})
    counting = _Counting(collection)
    writer = bulk.GroupWriter(counting, line=bulk.Line(linger_s=FOREVER_S))  # type: ignore[arg-type]
    *calm, last = _numbered(5)

    waiting = []
    for write in calm:  # one at a time, as events come, with the line free
        waiting.append(asyncio.ensure_future(writer.apply(write)))
        await asyncio.sleep(0)
    await asyncio.gather(writer.apply(last, urgent=True), *waiting)

    assert counting.commands == 1
    assert await collection.count_documents({}) == 5


async def test_a_full_batch_does_not_linger(collection: AsyncCollection) -> None:
    await collection.delete_many({})
    counting = _Counting(collection)
    writer = bulk.GroupWriter(counting, line=bulk.Line(linger_s=FOREVER_S, full_at=3))  # type: ignore[arg-type]

    waiting = []
    for write in _numbered(3):
        waiting.append(asyncio.ensure_future(writer.apply(write)))
        await asyncio.sleep(0)
    await asyncio.gather(*waiting)

    assert counting.commands == 1
    assert await collection.count_documents({}) == 3


async def test_what_an_api_waits_for_is_written_without_lingering(db: AsyncDatabase) -> None:
    """A deletion: the api answers it once projected. The writes queued meanwhile go with it, the
    other collection's too: the writers of a line linger together."""
    responses, used = db["responses"], db["usage"]
    await repository.fold(lifecycle("resp_gone")[0], collection=responses, usage_collection=None, ttl_s=TTL_S)
    counting = _Counting(responses)
    line = bulk.Line(linger_s=FOREVER_S)
    projector = repository.Projector(counting, usage_collection=used, ttl_s=TTL_S, line=line)  # type: ignore[arg-type]
    calm = asyncio.ensure_future(projector.fold(lifecycle("resp_calm")[-1]))
    await asyncio.sleep(0.01)  # its two writes are queued, and the writers linger

    await projector.fold(deleted("resp_gone"))
    await calm

    assert counting.commands == 1
    assert (await responses.find_one({"_id": "resp_gone"}) or {}).get("deleted") is True
    assert await responses.find_one({"_id": "resp_calm"}) is not None
    assert await used.count_documents({"_id": "resp_calm"}) == 1

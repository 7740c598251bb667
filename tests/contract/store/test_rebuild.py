"""Replay: the live store projects a log concurrently; rebuilding from the log gives the same documents."""

from collections.abc import Awaitable, Callable

from faststream.nats import NatsBroker
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.store import rebuild
from shared import eventlog, subjects
from shared.domain import projection
from shared.events import Event
from shared.readmodel import repository

from .samples import deleted, lifecycle, requested, response, streamed
from .waiting import store_caught_up


def a_log() -> list[Event]:
    """Interleaved lives: finished, deleted, not stored, and one still waiting for its backend."""
    lives = [lifecycle(f"resp_{i}", text=f"answer {i}") for i in range(4)]
    lives[1].append(deleted("resp_1"))
    lives[2] = lifecycle("resp_2", store=False)
    lives.append([requested("resp_waiting", chain=("resp_0",))])
    longest = max(map(len, lives))
    return [life[i] for i in range(longest) for life in lives if i < len(life)]


async def test_a_rebuilt_projection_equals_the_live_one(
    start_store: Callable[[AsyncCollection], Awaitable[NatsBroker]],
    collection: AsyncCollection,
    db: AsyncDatabase,
) -> None:
    live = await start_store(collection)
    js = live.connection.jetstream()
    for event in a_log():
        await eventlog.append(js, event)
    await js.publish(subjects.requested("resp_garbage"), b"{not json", stream=subjects.STREAM)
    await store_caught_up(js)
    rebuilt = db["responses_rebuilt"]

    read = await rebuild.rebuild(js, rebuilt, ttl_s=3600)

    store_diet = [
        e for e in a_log() if subjects.STATE_EVENT_TYPES.issuperset([e.type]) or "gateway" in e.type
    ]
    assert read == len(store_diet) + 1  # the garbage too: skipped, not fatal
    assert await collection.count_documents({}) == 4
    assert await rebuild.differing_ids(collection, rebuilt) == []


async def test_differences_are_reported_by_id(collection: AsyncCollection, db: AsyncDatabase) -> None:
    rebuilt = db["responses_rebuilt"]
    for target in (collection, rebuilt):
        for event in lifecycle("resp_same"):
            await _fold(target, event)
    await _fold(collection, requested("resp_live_only"))
    await _fold(rebuilt, deleted("resp_same"))

    assert await rebuild.differing_ids(collection, rebuilt) == ["resp_live_only", "resp_same"]


async def _fold(collection: AsyncCollection, event: Event) -> None:
    if (write := projection.write_for(event, ttl_s=3600)) is not None:
        await repository.apply(collection, write)


async def test_a_batch_folded_in_memory_ends_as_its_writes_one_by_one(
    collection: AsyncCollection, db: AsyncDatabase
) -> None:
    background = [
        streamed("resp_bg", 0, "queued", {"response": response("resp_bg", "queued", background=True)}),
        requested("resp_bg", background=True),
        streamed(
            "resp_bg", 1, "in_progress", {"response": response("resp_bg", "in_progress", background=True)}
        ),
        streamed("resp_bg", 4, "completed", {"response": response("resp_bg", "completed", background=True)}),
        # A retried call re-emits a state numbered after the end: it must not reopen the response.
        streamed(
            "resp_bg", 6, "in_progress", {"response": response("resp_bg", "in_progress", background=True)}
        ),
    ]
    log = [*a_log(), *background, lifecycle("resp_late")[-1]]
    projector = repository.Projector(collection, usage_collection=db["usage_folded"], ttl_s=3600)
    writes = [pair for event in log for pair in projector.writes(event)]
    await collection.delete_many({})
    for writer, write in writes:
        await repository.apply(writer.collection, write)
    expected = {
        name: await db[name].find().sort("_id").to_list() for name in (collection.name, "usage_folded")
    }
    await collection.delete_many({})
    await db["usage_folded"].drop()

    folded = rebuild.folded(writes)
    await projector.apply(folded)

    assert len(folded) < len(writes)
    for name, documents in expected.items():
        assert await db[name].find().sort("_id").to_list() == documents

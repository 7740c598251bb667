"""The projection's MongoDB writes against its in-memory reference fold (``projection.fold``): the same
event sequences, in many orders and with redeliveries, folded both ways end in the same document."""

import random
from datetime import UTC

from pymongo.asynchronous.collection import AsyncCollection

from shared.domain import projection
from shared.events import Event
from shared.readmodel import repository

from .samples import deleted, lifecycle, requested, response, streamed

TTL_S = 3600
RID = "resp_1"


def reference(events: list[Event]) -> dict | None:
    doc = None
    for event in events:
        doc = projection.fold(doc, event, ttl_s=TTL_S)
    return doc


async def in_mongo(collection: AsyncCollection, events: list[Event]) -> dict | None:
    await collection.delete_many({})
    for event in events:
        if (write := projection.write_for(event, ttl_s=TTL_S)) is not None:
            await repository.apply(collection, write)
    return await collection.find_one({"_id": RID})


def as_stored(doc: dict | None) -> dict | None:
    """``doc`` as MongoDB hands it back: datetimes in milliseconds, naive, in UTC."""
    if doc is None:
        return None
    at = doc["expires_at"].astimezone(UTC)
    return {**doc, "expires_at": at.replace(microsecond=at.microsecond // 1000 * 1000, tzinfo=None)}


def background_life() -> list[Event]:
    running = {"response": response(RID, "in_progress", background=True)}
    return [
        streamed(RID, 0, "queued", {"response": response(RID, "queued", background=True)}),
        requested(RID, background=True),
        streamed(RID, 1, "created", running),
        streamed(RID, 2, "in_progress", running),
        streamed(RID, 7, "cancelled", {"response": response(RID, "cancelled", background=True)}),
    ]


SEQUENCES = {
    "a foreground life": lifecycle(RID),
    "a background life": background_life(),
    "a life that is not stored": lifecycle(RID, store=False),
    "a life, then its deletion": [*lifecycle(RID), deleted(RID)],
    "a background life deleted half-way": [*background_life()[:3], deleted(RID), *background_life()[3:]],
}


async def test_the_mongo_writes_fold_as_the_reference_does(collection: AsyncCollection) -> None:
    rng = random.Random(12)
    for name, events in SEQUENCES.items():
        orders = [events] + [rng.sample(events, len(events)) for _ in range(6)]
        # JetStream redelivers: some events twice, one of them long after.
        orders += [[*events, *rng.sample(events, 2)] for _ in range(2)]
        for order in orders:
            expected = as_stored(reference(order))
            assert await in_mongo(collection, order) == expected, (name, [e.type for e in order])


async def test_the_reference_reaches_one_document_whatever_the_order() -> None:
    rng = random.Random(3)
    for name, events in SEQUENCES.items():
        if any(e.type == "gateway.response.deleted" for e in events):
            continue  # a deletion ends the document's history: what came before it differs
        first, *others = [reference(rng.sample(events, len(events))) for _ in range(8)]
        assert all(doc == first for doc in others), name

"""The projection's collection: its indexes, and applying the writes ``project`` decides."""

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.domain import projection, usage
from shared.domain.projection import Write
from shared.events import Event

COLLECTION = "responses"


def responses(db: AsyncDatabase) -> AsyncCollection:
    return db[COLLECTION]


async def ensure_indexes(collection: AsyncCollection) -> None:
    """Create the indexes the store and its readers rely on; idempotent, so every replica runs it."""
    # MongoDB removes a document once the clock passes its `expires_at`.
    await collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    await collection.create_index([("tenant", ASCENDING)])
    # `item_reference` lookups by item id, across the tenant's inputs and outputs.
    await collection.create_index([("input_items.id", ASCENDING)])
    await collection.create_index([("response.output.id", ASCENDING)])
    # The sweeper's open responses, oldest first (services/store/sweeper.py).
    await collection.create_index([("status", ASCENDING), ("response.created_at", ASCENDING)])


async def apply(collection: AsyncCollection, write: Write) -> None:
    """Apply one guarded upsert. A duplicate key means a document with this id exists but the guard
    did not match it, or it was inserted concurrently between our match and our insert. Only the
    second case can still apply, so try once more without inserting: it updates the document if the
    guard now matches and is a no-op otherwise (an older event, or a tombstone)."""
    try:
        await collection.update_one(write.filter, write.update, upsert=True)
    except DuplicateKeyError:
        await collection.update_one(write.filter, write.update)


async def fold(
    event: Event, *, collection: AsyncCollection, usage_collection: AsyncCollection | None, ttl_s: int
) -> None:
    """Apply the projection write and the usage write ``event`` makes (``usage_collection`` None: no
    usage)."""
    if (write := projection.write_for(event, ttl_s=ttl_s)) is not None:
        await apply(collection, write)
    if usage_collection is not None and (usage_write := usage.write_for(event)) is not None:
        await apply(usage_collection, usage_write)

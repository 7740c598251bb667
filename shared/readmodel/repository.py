"""The projection's collection: its indexes, and applying the writes ``project`` decides."""

import asyncio

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.domain import projection, usage
from shared.domain.projection import Write
from shared.events import Event, ResponseRequested, ResponseStreamed
from shared.readmodel import bulk
from shared.readmodel.bulk import GroupWriter

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
    """Apply one guarded upsert (or update). A duplicate key means a document with this id exists but
    the guard did not match it, or it was inserted concurrently between our match and our insert. Only the
    second case can still apply, so try once more without inserting: it updates the document if the
    guard now matches and is a no-op otherwise (an older event, or a tombstone)."""
    try:
        await collection.update_one(write.filter, write.update, upsert=write.upsert)
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


class Projector:
    """The store's fold: each collection's writes gathered into bulk writes (``bulk.GroupWriter``),
    an event's response and usage writes queued together, and the two writers on one ``line``: one
    command in flight at a time, lingering together for company (``bulk.Line``), except for a write
    an api waits for (``projection.projected_signal``). One per process and event loop; ``fold``
    above is the same fold one write at a time, for tools and the sweeper."""

    def __init__(
        self,
        collection: AsyncCollection,
        *,
        usage_collection: AsyncCollection | None,
        ttl_s: int,
        line: bulk.Line | None = None,
    ) -> None:
        line = line or bulk.Line()
        self._responses = GroupWriter(collection, line=line)
        self._usage = GroupWriter(usage_collection, line=line) if usage_collection is not None else None
        self._ttl_s = ttl_s

    def writes(self, event: Event) -> list[tuple[GroupWriter, Write]]:
        """The writes ``event`` makes, each with the writer of its collection."""
        found: list[tuple[GroupWriter, Write]] = []
        if (write := projection.write_for(event, ttl_s=self._ttl_s)) is not None:
            found.append((self._responses, write))
        if self._usage is not None and (usage_write := usage.write_for(event)) is not None:
            found.append((self._usage, usage_write))
        return found

    async def fold(self, event: Event) -> None:
        await self.apply(self.writes(event), urgent=projection.projected_signal(event) is not None)

    async def fold_together(self, request: ResponseRequested, end: ResponseStreamed) -> None:
        """Fold a response's request and its end as one insert of the document they make, which
        costs the server far less than their two guarded upserts (bench/README.md). A document that
        exists already (a deletion, a state another replica wrote) has them written one by one."""
        # Never urgent: a request held for its end is one nobody waits for (projection.written_with_its_end).
        doc = projection.together(request, end, ttl_s=self._ttl_s)
        others = [(w, x) for w, x in self.writes(end) if w is not self._responses]
        inserted, _ = await asyncio.gather(self._responses.insert(doc), self.apply(others))
        if not inserted:
            writes = (projection.write_for(e, ttl_s=self._ttl_s) for e in (request, end))
            await self.apply([(self._responses, w) for w in writes if w is not None])

    @staticmethod
    async def apply(writes: list[tuple[GroupWriter, Write]], *, urgent: bool = False) -> None:
        """Apply ``writes`` together; each runs to its end, and the first error is raised."""
        if len(writes) == 1:
            writer, write = writes[0]
            await writer.apply(write, urgent=urgent)
        elif writes:
            outcomes = await asyncio.gather(
                *(w.apply(x, urgent=urgent) for w, x in writes), return_exceptions=True
            )
            if errors := [e for e in outcomes if e is not None]:
                raise errors[0]

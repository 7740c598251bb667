"""Rebuilding the projection from the log: every event the store reads, from the first, folded into
a fresh collection by the same rules the live store applies. Because those rules are idempotent and
order-independent, each fetched batch is folded in memory (``folded``) and applied as one bulk write
per collection.

    python -m services.store.rebuild responses_rebuilt

builds ``responses_rebuilt`` in ``MONGO_DB`` and prints how many documents differ from the live
collection (writes that landed during the rebuild differ legitimately). Swapping the rebuilt
collection in (``renameCollection`` with ``dropTarget``) is left to the operator.
"""

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.store import durable
from shared import bus, consumers, eventlog, mongo, subjects
from shared.config import Settings, master_keys
from shared.datakeys import KeyDestroyed
from shared.domain.projection import Write
from shared.events import Event
from shared.readmodel import repository, usage
from shared.readmodel.bulk import GroupWriter

log = logging.getLogger(__name__)

_BATCH = 256
REBUILD_TIMEOUT_MS = 300_000
# A fetch that waits this long for nothing means no event the store reads remains.
_IDLE_S = 2.0


async def rebuild(
    js: JetStreamContext,
    target: AsyncCollection,
    *,
    ttl_s: int,
    usage_target: AsyncCollection | None = None,
) -> int:
    """Fold the log into ``target`` (and usage into ``usage_target``), from its first event to the
    last one present now, through the live store's own ``repository.Projector``; returns how many events
    were read. Content whose data key was destroyed stays erased: only its envelope's facts remain."""
    config = ConsumerConfig(
        filter_subjects=durable.FILTER_SUBJECTS,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=60.0,
    )
    sub = await js.pull_subscribe("", stream=subjects.STREAM, config=config)
    projector = repository.Projector(target, usage_collection=usage_target, ttl_s=ttl_s)
    read = 0
    try:
        while True:
            try:
                batch = await sub.fetch(_BATCH, timeout=_IDLE_S)
            except NatsTimeout:
                return read
            read += len(batch)
            # Decoded together: each response's first event waits on a key-store read.
            decoded = await asyncio.gather(*(_event_of(js, msg) for msg in batch))
            writes = [pair for e in decoded if e is not None for pair in projector.writes(e)]
            # Folded in memory first, then each collection's writes of the batch in one bulk write.
            await projector.apply(folded(writes))
            if batch[-1].metadata.num_pending == 0:
                return read
    finally:
        await sub.unsubscribe()


def folded(writes: list[tuple[GroupWriter, Write]]) -> list[tuple[GroupWriter, Write]]:
    """Pure: a batch's writes with each document's states folded in memory: only its highest-ranked
    state is kept, and with its request's write merged into one upsert. Written one by one they
    would end in the same document, given what a rebuild holds: events in log order, into a fresh
    collection, so no document has a state ranked above this batch's before its request comes.
    A deletion, or any write other than a guarded ``$set`` upsert, is left as it is."""
    kept: list[tuple[GroupWriter, Write]] = []
    states: dict[tuple[int, Any], tuple[GroupWriter, Write]] = {}
    requests: dict[tuple[int, Any], tuple[GroupWriter, Write]] = {}
    for writer, write in writes:
        key = (id(writer), write.filter.get("_id"))
        if not write.upsert or set(write.update) - {"$set", "$setOnInsert"}:
            kept.append((writer, write))
        elif (rank := write.update["$set"].get("state_rank")) is not None:
            if key not in states or _rank(states[key][1]) < rank:
                states[key] = (writer, write)
        elif key in requests:
            kept.append((writer, write))
        else:
            requests[key] = (writer, write)
    for key, (writer, request) in requests.items():
        if (state := states.pop(key, None)) is None:
            kept.append((writer, request))
        else:
            kept.append((writer, _merged(request, state[1])))
    return kept + list(states.values())


def _rank(write: Write) -> int:
    return write.update["$set"]["state_rank"]


def _merged(request: Write, state: Write) -> Write:
    """One upsert doing what ``request`` then ``state`` do to a document without a higher state."""
    updates = {**request.update.get("$set", {}), **state.update.get("$set", {})}
    on_insert = {**request.update.get("$setOnInsert", {}), **state.update.get("$setOnInsert", {})}
    update: dict[str, Any] = {"$set": updates}
    if on_insert := {k: v for k, v in on_insert.items() if k not in updates}:
        update["$setOnInsert"] = on_insert
    return Write(filter={**request.filter, **state.filter}, update=update)


async def differing_ids(live: AsyncCollection, rebuilt: AsyncCollection) -> list[str]:
    """Ids whose documents are not identical in both collections, present in one only included."""
    ids = set(await live.distinct("_id")) | set(await rebuilt.distinct("_id"))
    differing = []
    for response_id in sorted(ids):
        if await live.find_one({"_id": response_id}) != await rebuilt.find_one({"_id": response_id}):
            differing.append(response_id)
    return differing


async def _event_of(js: JetStreamContext, msg: Msg) -> Event | None:
    try:
        return await eventlog.decode(js, msg)
    except KeyDestroyed:
        return None  # erased content: the live store skipped it too
    except Exception as exc:
        if consumers.is_transient(exc):
            raise  # NATS did not answer: a rebuild that skipped it would not be whole
        log.error("skipping an unreadable event: %r", exc)  # the live store dead-lettered it too
        return None


async def verify(settings: Settings) -> int:
    """Rebuild responses and usage into scratch collections, report which documents differ from the
    live ones, drop the scratch; 0 when none differs. Writes that land during the run differ
    legitimately: run it against a quiet gateway, or read the ids it prints."""
    async with _connected(settings) as (js, db):
        suffix = f"verify_{int(time.time())}"
        scratch = {name: db[f"{name}_{suffix}"] for name in (repository.COLLECTION, usage.COLLECTION)}
        try:
            started = time.monotonic()
            read = await rebuild(
                js,
                scratch[repository.COLLECTION],
                ttl_s=settings.response_ttl_s,
                usage_target=scratch[usage.COLLECTION],
            )
            elapsed = time.monotonic() - started
            print(f"replayed {read} events in {elapsed:.1f}s ({read / max(elapsed, 1e-9):,.0f} events/s)")
            differing = 0
            for name, rebuilt in scratch.items():
                ids = await differing_ids(db[name], rebuilt)
                differing += len(ids)
                print(f"{name}: {len(ids)} documents differ" + (f": {', '.join(ids[:20])}" if ids else ""))
        finally:
            for rebuilt in scratch.values():
                await rebuilt.drop()
    return 1 if differing else 0


@contextlib.asynccontextmanager
async def _connected(settings: Settings) -> AsyncIterator[tuple[JetStreamContext, AsyncDatabase]]:
    """The log, read with the master key (sealed content opens while its key exists), and MongoDB."""
    # Listing and comparing whole collections takes longer than any one write of the live store.
    client = mongo.client(settings.mongo_uri, retry_writes=False, timeout_ms=REBUILD_TIMEOUT_MS)
    nc = await nats.connect(**bus.connect_options(settings))
    try:
        js = nc.jetstream()
        await eventlog.seal_with(
            js, master_keys(), ttl_s=settings.response_ttl_s, replicas=settings.stream_replicas
        )
        yield js, client[settings.mongo_db]
    finally:
        await nc.close()
        await client.close()


async def main(target_name: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rebuild %(levelname)s %(message)s")
    settings = Settings.from_env()
    async with _connected(settings) as (js, db):
        target = db[target_name]
        await repository.ensure_indexes(target)
        read = await rebuild(js, target, ttl_s=settings.response_ttl_s)
        differing = await differing_ids(repository.responses(db), target)
        log.info(
            "read %d events into %s; %d documents differ from the live collection",
            read,
            target_name,
            len(differing),
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""Rebuilding the projection from the log: every event the store reads, from the first, folded into
a fresh collection by the same rules the live store applies. Because those rules are idempotent and
order-independent, each fetched batch is applied concurrently.

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
from shared.events import Event
from shared.readmodel import repository, usage

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
    last one present now, through the live store's own ``repository.fold``; returns how many events
    were read. Content whose data key was destroyed stays erased: only its envelope's facts remain."""
    config = ConsumerConfig(
        filter_subjects=durable.FILTER_SUBJECTS,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=60.0,
    )
    sub = await js.pull_subscribe("", stream=subjects.STREAM, config=config)
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
            events = [e for e in decoded if e is not None]
            await asyncio.gather(
                *(
                    repository.fold(e, collection=target, usage_collection=usage_target, ttl_s=ttl_s)
                    for e in events
                )
            )
            if batch[-1].metadata.num_pending == 0:
                return read
    finally:
        await sub.unsubscribe()


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

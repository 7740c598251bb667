"""Rebuilding the projection from the log: every event the store reads, from the first, folded into
a fresh collection by the same rules the live store applies. Because those rules are idempotent and
order-independent, each fetched batch is applied concurrently.

    python -m services.store.rebuild responses_rebuilt

builds ``responses_rebuilt`` in ``MONGO_DB`` and prints how many documents differ from the live
collection (writes that landed during the rebuild differ legitimately). Swapping the rebuilt
collection in (``renameCollection`` with ``dropTarget``) is left to the operator.
"""

import asyncio
import logging
import sys

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from services.store import handlers, project, repository
from shared import subjects
from shared.config import Settings
from shared.events import parse_event

log = logging.getLogger(__name__)

_BATCH = 256
# A fetch that waits this long for nothing means no event the store reads remains.
_IDLE_S = 2.0


async def rebuild(js: JetStreamContext, target: AsyncCollection, *, ttl_s: int) -> int:
    """Fold the log into ``target``, from its first event to the last one present now; returns how
    many events were read."""
    config = ConsumerConfig(
        filter_subjects=handlers.FILTER_SUBJECTS,
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
            writes = [w for msg in batch if (w := _write_of(msg.data, ttl_s=ttl_s)) is not None]
            await asyncio.gather(*(repository.apply(target, w) for w in writes))
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


def _write_of(data: bytes, *, ttl_s: int) -> project.Write | None:
    try:
        return project.write_for(parse_event(data), ttl_s=ttl_s)
    except Exception as exc:
        log.error("skipping an unreadable event: %r", exc)  # the live store dropped it too
        return None


async def main(target_name: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rebuild %(levelname)s %(message)s")
    settings = Settings.from_env()
    mongo = AsyncMongoClient(settings.mongo_uri)
    nc = await nats.connect(settings.nats_url)
    try:
        db = mongo[settings.mongo_db]
        target = db[target_name]
        await repository.ensure_indexes(target)
        read = await rebuild(nc.jetstream(), target, ttl_s=settings.response_ttl_s)
        differing = await differing_ids(repository.responses(db), target)
        log.info(
            "read %d events into %s; %d documents differ from the live collection",
            read,
            target_name,
            len(differing),
        )
    finally:
        await nc.close()
        await mongo.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

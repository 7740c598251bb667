"""Erasing a tenant: every data key of the project destroyed, so its content in the log is unreadable
everywhere (backups and rebuilds included), and its documents removed from the projection (responses
and conversations). Usage documents stay: they hold counts and costs, no content, and are the accounts."""

import asyncio
import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from shared import subjects
from shared.datakeys import DataKeys
from shared.readmodel import conversations, repository

log = logging.getLogger(__name__)

# How long an erasure waits for the projection to take in what the log held when the keys went.
_PROJECTION_WAIT_S = 10.0
_POLL_S = 0.05


@dataclass(frozen=True)
class Erased:
    project: str
    keys: int
    responses: int
    conversations: int

    def report(self) -> dict[str, str | int]:
        return {
            "project": self.project,
            "erased_keys": self.keys,
            "erased_responses": self.responses,
            "erased_conversations": self.conversations,
        }


async def erase_tenant(keys: DataKeys, db: AsyncDatabase, js: JetStreamContext, tenant: str) -> Erased:
    destroyed = await keys.destroy_tenant(tenant)
    # The store may have opened a response of the tenant just before its key went and write it after
    # the documents are removed, readable again (and uncounted): they are removed once the projection
    # has taken in everything the log held then. An event logged later cannot be opened any more.
    last = await _log_end(js)
    if last is not None and not await projected_past(js, last, timeout_s=_PROJECTION_WAIT_S):
        log.warning("erasing %r: the projection is behind the log after %.0fs", tenant, _PROJECTION_WAIT_S)
    removed = await repository.responses(db).delete_many({"tenant": tenant})
    conversations_removed = await conversations.collection_of(db).delete_many({"tenant": tenant})
    return Erased(
        project=tenant,
        keys=destroyed,
        responses=removed.deleted_count,
        conversations=conversations_removed.deleted_count,
    )


async def _log_end(js: JetStreamContext) -> int | None:
    """The log's last sequence; None where nothing was ever logged (no log: nothing to wait for)."""
    try:
        return (await js.stream_info(subjects.STREAM)).state.last_seq
    except NotFoundError:
        return None


async def projected_past(js: JetStreamContext, sequence: int, *, timeout_s: float) -> bool:
    """Whether the store has settled every message of the log up to ``sequence`` (or has nothing left
    to settle) within ``timeout_s``; True as well where no store has ever consumed the log."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout_s
    while True:
        try:
            info = await js.consumer_info(subjects.STREAM, subjects.PROJECTION_DURABLE)
        except NotFoundError:
            return True
        floor = (info.ack_floor.stream_seq if info.ack_floor else None) or 0
        if floor >= sequence or not (info.num_pending or info.num_ack_pending):
            return True
        if loop.time() >= until:
            return False
        await asyncio.sleep(_POLL_S)

"""Read-your-writes: a stored response as the projection holds it, or, where the projection has not
caught up with the log yet, as the log's own events fold it.

The api answers a response once the log holds its end, not once the store has projected it: that
took the store's MongoDB writes off every request's path (bench/README.md). A client may read the
response back at once (GET, ``input_items``, the next turn's ``previous_response_id``) before the
store has written it. So a read that finds no document, or one that has not finished, looks up the
response's few events in the log (its request, last state and deletion: one lookup each, by subject,
all at once) and folds them over what it found with the projection's own rules (``projection.fold``),
which give the same document in any order and any number of times. A finished document is final (only
a deletion changes it, and the api answers a deletion once it is projected), so reading one costs no
lookup.
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from pymongo.asynchronous.database import AsyncDatabase

from shared import eventlog, retries, subjects
from shared.config import Settings
from shared.datakeys import KeyDestroyed
from shared.domain import projection
from shared.readmodel import queries
from shared.readmodel.turns import TurnCache, expired, settled

Doc = dict[str, Any]

logger = logging.getLogger(__name__)

# A lookup the log cannot answer (no stream leader) is tried again through an election (about 5 s),
# then ends the read as unavailable: never as "no such response".
_LOOKUP_BUDGET = retries.Budget(total_s=8.0, attempt_s=eventlog.LOOKUP_TIMEOUT_S)
_LOG_UNAVAILABLE = "The event log is unavailable; please retry the request."


@dataclass(frozen=True)
class LogReads:
    """The log, read for what the projection has not caught up with; ``ttl_s`` is the projection's
    (``Settings.response_ttl_s``), so that the log never shows a response the projection let expire;
    ``lag_s`` how long the store may hold a write for company (``Settings.store_linger_ms``)."""

    js: JetStreamContext
    ttl_s: int
    lag_s: float = 0.0

    @classmethod
    def of(cls, js: JetStreamContext, settings: Settings) -> "LogReads":
        return cls(js, settings.response_ttl_s, settings.store_linger_s)


async def response_doc(
    db: AsyncDatabase, log: LogReads | None, *, tenant: str, response_id: str
) -> Doc | None:
    """The tenant's stored response as the log last left it; None if it is missing, deleted, expired
    or someone else's. ``log`` None reads the projection alone."""
    doc = await queries.get_response_doc(db, tenant=tenant, response_id=response_id)
    if settled(doc) or log is None:
        return doc
    return await caught_up(log, doc, tenant=tenant, response_id=response_id)


async def chain_docs(
    db: AsyncDatabase,
    log: LogReads | None,
    *,
    tenant: str,
    ids: list[str],
    cache: TurnCache | None = None,
) -> list[Doc]:
    """The tenant's turns among ``ids``, in that order, as ``queries.get_chain_docs`` reads them; those
    ``cache`` holds are not read again (and those read are held), and those the projection has not
    settled yet (in practice the turn answered a moment ago) are read from the log."""
    found = cache.take(tenant, ids) if cache is not None else {}
    if wanted := [i for i in ids if i not in found]:
        read = {doc["_id"]: doc for doc in await queries.get_chain_docs(db, tenant=tenant, ids=wanted)}
        if log is not None:
            behind = [i for i in wanted if not settled(read.get(i))]
            caught = await asyncio.gather(
                *(caught_up(log, read.get(i), tenant=tenant, response_id=i) for i in behind)
            )
            read.update(zip(behind, caught, strict=True))
        if cache is not None:
            cache.keep(doc for doc in read.values() if doc is not None)
        found.update(read)
    return [doc for i in ids if (doc := found.get(i)) is not None]


async def caught_up(log: LogReads, doc: Doc | None, *, tenant: str, response_id: str) -> Doc | None:
    """``doc`` (the projection's, or None) with the response's logged request, last state and deletion
    folded over it; the request only if the projection lacks it, and the deletion only if there is no
    document (a deletion is answered once projected), so a running response costs one lookup."""
    state, _ = subjects.response_event_subjects(response_id)
    names = [state]
    if doc is None or "input_items" not in doc:
        names.insert(0, subjects.requested(response_id))
    if doc is None:
        names.append(subjects.deleted(response_id))
    raws = await asyncio.gather(*(_last_message(log.js, name) for name in names))
    for raw in raws:
        if raw is None:
            continue
        try:
            event = await eventlog.decode(log.js, raw)
        except KeyDestroyed:  # erased: deleted, or expired with its key
            return None
        except Exception as error:
            if retries.is_transient(error):
                raise
            # What the store dead-letters (no event, say) it never projects: nor does this read.
            logger.warning("%s: skipping %s, which is no event: %r", response_id, raw.subject, error)
            continue
        doc = projection.fold(doc, event, ttl_s=log.ttl_s)
    if doc is None or doc.get("deleted") or doc.get("tenant") != tenant or doc.get("response") is None:
        return None
    return None if expired(doc) else doc


async def _last_message(js: JetStreamContext, subject: str) -> RawStreamMsg | None:
    return await retries.retrying(
        lambda timeout_s: eventlog.last_message(js, subject, timeout_s=timeout_s),
        what=f"reading {subject} from the log",
        budget=_LOOKUP_BUDGET,
        unavailable=_LOG_UNAVAILABLE,
    )

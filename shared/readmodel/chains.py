"""What a translation reads before its pure build (``shared.domain.requests.build_chat_request``): the
stored turns of the request's chain (or its conversation's items) and the items its ``item_reference``s
name. The translator and the
api's ``compact`` and ``input_tokens`` load through here, so all three see the same inputs."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.domain import requests
from shared.readmodel import conversations, fresh, queries
from shared.readmodel.turns import TurnCache
from shared.request_model import ResponseCreateRequest

Doc = dict[str, Any]

# An item is found by its id in the projection alone: the log holds items by their response. The
# store writes a response up to its linger after the log holds its end (shared/readmodel/bulk.py),
# and a client may name the response's items at once; so an item not found is looked for again, this
# long after the linger and then twice as long, before it counts as missing.
_WRITE_S = 0.1
_LOOKS_AGAIN = 2


@dataclass(frozen=True)
class Loaded:
    history: list[Doc] = field(default_factory=list)  # the chain's turns, oldest first
    references: dict[str, Doc] = field(default_factory=dict)  # referenced items, by id
    # The request names a conversation that is not (or no longer) the tenant's: its history is empty.
    conversation_missing: bool = False


async def load(
    db: AsyncDatabase,
    *,
    tenant: str,
    chain: list[str],
    request: ResponseCreateRequest,
    log: fresh.LogReads | None = None,
    cache: TurnCache | None = None,
) -> Loaded:
    """The tenant's stored turns named by ``chain`` (a ``ResponseRequested.chain``), or the items of the
    conversation the request names, and the items the request references: one query each (an item
    not found is looked for again, ``_LOOKS_AGAIN``), and none when there is nothing to read. With
    ``log``, turns the projection has not caught up with yet are read from the log, and with
    ``cache`` turns it holds are not read again (``fresh.chain_docs``)."""
    missing = False
    if (conversation_id := request.conversation_id()) is not None:
        found = await conversations.history(db, tenant=tenant, conversation_id=conversation_id)
        history, missing = found or [], found is None
    else:
        history = await fresh.chain_docs(db, log, tenant=tenant, ids=chain, cache=cache) if chain else []
    wanted = requests.referenced_item_ids(request)
    references = await _referenced(db, log, tenant=tenant, item_ids=wanted) if wanted else {}
    return Loaded(history=history, references=references, conversation_missing=missing)


async def _referenced(
    db: AsyncDatabase, log: fresh.LogReads | None, *, tenant: str, item_ids: list[str]
) -> dict[str, Doc]:
    found = await queries.find_items(db, tenant=tenant, item_ids=item_ids)
    pause = (log.lag_s if log is not None else 0.0) + _WRITE_S
    for _ in range(_LOOKS_AGAIN):
        if not (missing := [i for i in item_ids if i not in found]):
            break
        await asyncio.sleep(pause)
        found |= await queries.find_items(db, tenant=tenant, item_ids=missing)
        pause *= 2
    return found

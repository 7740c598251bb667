"""The ``conversations`` collection: applying the writes ``shared.domain.conversations`` decides, and the
reads of the api and the translator, each scoped to the owner (a deleted conversation reads as missing)."""

from typing import Any, Literal

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.domain import conversations
from shared.events import Event
from shared.readmodel import queries
from shared.readmodel.repository import apply

COLLECTION = "conversations"

Doc = dict[str, Any]


def collection_of(db: AsyncDatabase) -> AsyncCollection:
    return db[COLLECTION]


async def ensure_indexes(collection: AsyncCollection) -> None:
    await collection.create_index([("tenant", ASCENDING)])


async def fold(event: Event, collection: AsyncCollection) -> bool:
    """Apply what ``event`` changes of a conversation: a conversation event's write, or half of a
    response's turn, appended once both halves are in. True when it left a turn waiting for its
    other half."""
    if (write := conversations.write_for(event)) is not None:
        await apply(collection, write)
    if (half := conversations.turn_write(event)) is None:
        return False
    await apply(collection, half)
    conversation_id, response_id = conversations.turn_of(event) or ("", "")
    # Read after our own half is written: of two handlers holding a turn's halves, the later one to
    # write sees both, and the guard of the append keeps it to one.
    doc = await collection.find_one({"_id": conversation_id}, {f"turns.{response_id}": 1, "tenant": 1})
    if (append := conversations.turn_completion(doc, response_id)) is not None:
        await apply(collection, append)
        return False
    return bool(((doc or {}).get("turns") or {}).get(response_id))


async def get(db: AsyncDatabase, *, tenant: str, conversation_id: str) -> Doc | None:
    """The conversation without its items, or None if it is missing, deleted or someone else's."""
    doc = await collection_of(db).find_one({"_id": conversation_id}, {"items": 0, "appended": 0, "turns": 0})
    return queries.owned(doc, tenant)


async def items(db: AsyncDatabase, *, tenant: str, conversation_id: str) -> list[Doc] | None:
    """Every item of the conversation, oldest first; None if the conversation is not the tenant's."""
    fields = {"items": 1, "tenant": 1, "deleted": 1}
    doc = queries.owned(await collection_of(db).find_one({"_id": conversation_id}, fields), tenant)
    return None if doc is None else list(doc.get("items") or [])


async def page_items(
    db: AsyncDatabase,
    *,
    tenant: str,
    conversation_id: str,
    limit: int,
    order: Literal["asc", "desc"],
    after: str | None,
) -> Doc | None:
    """One page of the conversation's items as OpenAI's ``ConversationItemList``."""
    found = await items(db, tenant=tenant, conversation_id=conversation_id)
    return None if found is None else queries.page(found, limit=limit, order=order, after=after)


async def history(db: AsyncDatabase, *, tenant: str, conversation_id: str) -> list[Doc] | None:
    """The conversation as the one earlier turn a history is folded from (``shared.domain.history``);
    None if the conversation is not the tenant's."""
    found = await items(db, tenant=tenant, conversation_id=conversation_id)
    return None if found is None else [{"input_items": found}]

"""Reads of the projection, for the api and the translator. Every read is scoped to the owner, and
a deleted response (a tombstone) reads as missing."""

from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase

from shared.readmodel.repository import responses

Doc = dict[str, Any]

_CHAIN_FIELDS = {
    "input_items": 1,
    "response.output": 1,
    "status": 1,
    "tenant": 1,
    "expires_at": 1,
    "deleted": 1,
}


def owned(doc: Doc | None, tenant: str) -> Doc | None:
    """``doc`` if it is the tenant's and not deleted. A read by id asks for the id alone and checks
    these here: given them in its filter too, the Mongo stand-in reads by its ``tenant`` index,
    every document of the tenant, where the id's index reads one (bench/README.md)."""
    if doc is None or doc.get("tenant") != tenant or doc.get("deleted") is True:
        return None
    return doc


async def get_response_doc(db: AsyncDatabase, *, tenant: str, response_id: str) -> Doc | None:
    """The stored document of one response, or None if it is missing, deleted or someone else's."""
    return owned(await responses(db).find_one({"_id": response_id}), tenant)


async def get_chain_docs(db: AsyncDatabase, *, tenant: str, ids: list[str]) -> list[Doc]:
    """The turns of ``ids`` in that order, in one query; missing or deleted ones are skipped. Only what
    a history is folded from is read (and whether the turn is final, ``fresh.settled``): a deep chain
    is a hundred documents on the hot path."""
    cursor = responses(db).find({"_id": {"$in": ids}}, _CHAIN_FIELDS)
    found = {doc["_id"]: doc async for doc in cursor if owned(doc, tenant)}
    return [found[i] for i in ids if i in found]


async def find_items(db: AsyncDatabase, *, tenant: str, item_ids: list[str]) -> dict[str, Doc]:
    """Input or output items of the tenant's stored responses, by item id (for ``item_reference``)."""
    wanted = set(item_ids)
    fields = {"input_items": 1, "response.output": 1, "tenant": 1, "deleted": 1}
    found: dict[str, Doc] = {}
    # One query per index: the Mongo stand-in reads an ``$or`` of the two by scanning the whole
    # collection, each alone by its index (``python -m bench.store_reads``).
    for path in ("input_items.id", "response.output.id"):
        async for doc in responses(db).find({path: {"$in": item_ids}}, fields):
            if owned(doc, tenant) is None:
                continue
            for item in [*doc.get("input_items", []), *doc.get("response", {}).get("output", [])]:
                # A reference carries the id of the item it points at; it is not that item.
                if item.get("id") in wanted and item.get("type") != "item_reference":
                    found[item["id"]] = item
    return found


def page_input_items(doc: Doc, *, limit: int, order: Literal["asc", "desc"], after: str | None) -> Doc:
    """One page of a response's input items, shaped as OpenAI's ``ResponseItemList``. ``desc`` is
    newest first; ``after`` is the id of the last item of the previous page (an unknown id gives an
    empty page rather than the first one again)."""
    return page(doc.get("input_items", []), limit=limit, order=order, after=after)


def page(items: list[Doc], *, limit: int, order: Literal["asc", "desc"], after: str | None) -> Doc:
    """One page of ``items`` (oldest first) as OpenAI lists items, for ``page_input_items``' rules."""
    items = list(items)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }

"""The ``usage`` collection: its indexes, and the sums read from it for reports and token limits.
The documents are written by the store from ``shared.domain.usage.write_for``."""

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.domain.usage import TOKEN_FIELDS, GroupBy

COLLECTION = "usage"

_GROUP_FIELDS: dict[str, str] = {
    "key": "key_id",
    "model": "model",
    "deployment": "deployment",
    "project": "tenant",
}


def summary_pipeline(group_by: GroupBy, *, since: float, project: str | None = None) -> list[dict[str, Any]]:
    """The aggregation summing finished responses since ``since`` (epoch seconds) per ``group_by``."""
    match: dict[str, Any] = {"finished_at": {"$gte": since}}
    if project is not None:
        match["tenant"] = project
    sums: dict[str, Any] = {field: {"$sum": f"${field}"} for field in (*TOKEN_FIELDS, "cost_usd")}
    group = {
        "_id": f"${_GROUP_FIELDS[group_by]}",
        "requests": {"$sum": 1},
        "errors": {"$sum": {"$cond": [{"$eq": ["$status", "failed"]}, 1, 0]}},
        **sums,
    }
    return [{"$match": match}, {"$group": group}, {"$sort": {"_id": ASCENDING}}]


async def summarize(
    collection: AsyncCollection, group_by: GroupBy, *, since: float, project: str | None = None
) -> list[dict[str, Any]]:
    """One row per group: ``{group_by: value, "requests", "errors", *TOKEN_FIELDS, "cost_usd"}``."""
    cursor = await collection.aggregate(summary_pipeline(group_by, since=since, project=project))
    return [{group_by: row.pop("_id"), **row} async for row in cursor]


async def tokens_since(collection: AsyncCollection, *, key_id: str, since: float) -> int:
    """Tokens that ``key_id``'s responses finished since ``since`` used (for tokens-per-minute)."""
    pipeline = [
        {"$match": {"key_id": key_id, "finished_at": {"$gte": since}}},
        {"$group": {"_id": None, "tokens": {"$sum": "$total_tokens"}}},
    ]
    rows = await (await collection.aggregate(pipeline)).to_list()
    return int(rows[0]["tokens"]) if rows else 0


async def ensure_indexes(collection: AsyncCollection) -> None:
    await collection.create_index([("finished_at", ASCENDING)])
    await collection.create_index([("key_id", ASCENDING), ("finished_at", ASCENDING)])

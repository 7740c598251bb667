"""Usage and cost, projected from the log into the ``usage`` collection, and summed for reports.

One document per response, ``_id = response_id``, stored or not, written once from its terminal
event, which carries all of it (the worker stamps the key id and the serving deployment on it)::

    tenant, key_id, model, created_at, status, finished_at, deployment, *_tokens, cost_usd, error_code

The write ``$set``s the event's facts under the response's id, so redelivery and replay change
nothing. The cost is the worker's, at the prices its
deployment had when it served the call. Usage documents do not expire: they are the accounts.
"""

from typing import Any, Literal

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from services.store.project import Write
from shared.events import Event, ResponseStreamed

COLLECTION = "usage"
GroupBy = Literal["key", "model", "deployment", "project"]

_GROUP_FIELDS: dict[str, str] = {
    "key": "key_id",
    "model": "model",
    "deployment": "deployment",
    "project": "tenant",
}
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def write_for(event: Event) -> Write | None:
    """The usage write of ``event``, or None if it tells nothing about usage."""
    if isinstance(event, ResponseStreamed) and event.is_terminal:
        return Write(filter={"_id": event.response_id}, update={"$set": _outcome(event)})
    return None


def _outcome(event: ResponseStreamed) -> dict[str, Any]:
    response = event.payload["response"]
    usage = response.get("usage") or {}
    tokens = {
        "input_tokens": usage.get("input_tokens") or 0,
        "cached_input_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0,
        "output_tokens": usage.get("output_tokens") or 0,
        "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
        "total_tokens": usage.get("total_tokens") or 0,
    }
    return {
        "tenant": event.tenant,
        "key_id": event.key_id,
        "model": response.get("model"),
        "created_at": response.get("created_at"),
        "status": response.get("status"),
        "finished_at": event.occurred_at,
        "deployment": event.served_by,
        "cost_usd": event.cost_usd or 0.0,
        "error_code": (response.get("error") or {}).get("code"),
        **tokens,
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

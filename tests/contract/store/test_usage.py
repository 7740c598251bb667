"""The usage projection: a response's terminal event folded, any number
of times, into one document; and the per-group sums read from it."""

from pymongo.asynchronous.database import AsyncDatabase

from shared.domain.usage import write_for
from shared.readmodel import repository, usage

from .samples import TENANT, lifecycle

USAGE = {
    "input_tokens": 30,
    "input_tokens_details": {"cached_tokens": 10},
    "output_tokens": 12,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 42,
}


def served(response_id: str, key_id: str):
    """The completed event of a response made with ``key_id``, served by ``d1`` for 0.5 USD."""
    *_, completed = lifecycle(response_id)
    done = {**completed.payload["response"], "usage": USAGE}
    completed = completed.model_copy(
        update={
            "payload": {**completed.payload, "response": done},
            "served_by": "d1",
            "cost_usd": 0.5,
            "key_id": key_id,
        }
    )
    return completed


def test_only_the_terminal_event_writes():
    writes = [write_for(event) for event in lifecycle("resp_1")]
    assert [w is not None for w in writes] == [False, False, False, False, True]


async def test_redelivery_changes_nothing(db: AsyncDatabase):
    completed = served("resp_u", "key_1")
    docs = []
    for times in (1, 2, 3):
        collection = db[f"usage_{times}"]
        for _ in range(times):
            await repository.apply(collection, write_for(completed))
        docs.append(await collection.find_one({"_id": "resp_u"}))
    assert all(doc == docs[0] for doc in docs)
    assert docs[0] | {"finished_at": None} == {
        "_id": "resp_u",
        "tenant": TENANT,
        "key_id": "key_1",
        "model": "m",
        "created_at": completed.payload["response"]["created_at"],
        "status": "completed",
        "finished_at": None,
        "deployment": "d1",
        "cost_usd": 0.5,
        "error_code": None,
        "input_tokens": 30,
        "cached_input_tokens": 10,
        "output_tokens": 12,
        "reasoning_tokens": 4,
        "total_tokens": 42,
    }


async def test_summaries_group_and_sum(db: AsyncDatabase):
    collection = db[usage.COLLECTION]
    for response_id, key_id in (("resp_1", "key_1"), ("resp_2", "key_1"), ("resp_3", "key_2")):
        await repository.apply(collection, write_for(served(response_id, key_id)))
    by_key = await usage.summarize(collection, "key", since=0)
    assert [(r["key"], r["requests"], r["total_tokens"], r["cost_usd"]) for r in by_key] == [
        ("key_1", 2, 84, 1.0),
        ("key_2", 1, 42, 0.5),
    ]
    assert await usage.tokens_since(collection, key_id="key_1", since=0) == 84
    assert await usage.summarize(collection, "deployment", since=10**12) == []

"""The projection rules, folded into a real MongoDB-wire server through ``repository.apply``."""

import random
from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.domain import projection
from shared.events import Event
from shared.ids import derived_id
from shared.readmodel import repository

from .samples import CREATED_AT, TENANT, deleted, lifecycle, requested, response, streamed

TTL_S = 3600
RID = "resp_1"


async def fold(collection: AsyncCollection, events: Iterable[Event]) -> dict | None:
    for event in events:
        if (write := projection.write_for(event, ttl_s=TTL_S)) is not None:
            await repository.apply(collection, write)
    return await collection.find_one({"_id": RID})


async def fold_fresh(collection: AsyncCollection, events: Iterable[Event]) -> dict | None:
    await collection.delete_many({})
    return await fold(collection, events)


def expiry(timestamp: float) -> datetime:
    # MongoDB keeps milliseconds and hands datetimes back naive, in UTC.
    at = datetime.fromtimestamp(timestamp + TTL_S, tz=UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000, tzinfo=None)


async def test_a_whole_life_projects_one_complete_document(collection: AsyncCollection) -> None:
    events = lifecycle(RID)
    doc = await fold(collection, events)

    assert doc == {
        "_id": RID,
        "tenant": TENANT,
        "created_at": CREATED_AT,
        "request": events[0].request.model_dump(mode="json"),
        "chain": [],
        "input_items": [
            {
                "id": derived_id("msg", RID, "input", 0),
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello"}],
            }
        ],
        "expires_at": expiry(CREATED_AT),
        "status": "completed",
        "response": events[-1].payload["response"],
        "state_rank": projection.write_for(events[-1], ttl_s=TTL_S).update["$set"]["state_rank"],
    }


async def test_applying_every_event_twice_changes_nothing(collection: AsyncCollection) -> None:
    events = [*lifecycle(RID), deleted(RID)]
    for end in range(1, len(events) + 1):
        once = await fold_fresh(collection, events[:end])
        twice = await fold_fresh(collection, events[:end] + events[:end])
        assert twice == once


async def test_any_order_gives_the_same_document(collection: AsyncCollection) -> None:
    events = lifecycle(RID)
    expected = await fold_fresh(collection, events)
    rng = random.Random(7)
    orders = [list(reversed(events))] + [rng.sample(events, len(events)) for _ in range(12)]
    for order in orders:
        assert await fold_fresh(collection, order) == expected, [e.type for e in order]


class _RacedCollection:
    """A collection where another replica inserts the document between our failed match and our
    insert, which the server reports as a duplicate key: what two replicas racing on a new response see."""

    def __init__(self, collection: AsyncCollection, rival: projection.Write) -> None:
        self._collection = collection
        self._rival: projection.Write | None = rival

    async def update_one(self, filter: dict, update: dict, upsert: bool = False) -> object:
        if upsert and self._rival is not None:
            rival, self._rival = self._rival, None
            await self._collection.update_one(rival.filter, rival.update, upsert=True)
            raise DuplicateKeyError("E11000 duplicate key error", code=11000)
        return await self._collection.update_one(filter, update, upsert=upsert)


async def test_a_write_that_loses_an_insert_race_still_applies(collection: AsyncCollection) -> None:
    events = lifecycle(RID)
    expected = await fold_fresh(collection, events)
    await collection.delete_many({})
    request_write, completed_write = (projection.write_for(e, ttl_s=TTL_S) for e in (events[0], events[-1]))

    await repository.apply(_RacedCollection(collection, rival=request_write), completed_write)
    await fold(collection, events[1:-1])

    assert await collection.find_one({"_id": RID}) == expected


async def test_a_request_arriving_last_completes_the_document(collection: AsyncCollection) -> None:
    events = lifecycle(RID)
    in_order = await fold_fresh(collection, events)
    request_last = await fold_fresh(collection, [*events[1:], events[0]])
    assert request_last == in_order
    assert request_last["status"] == "completed"
    assert request_last["input_items"][0]["content"] == [{"type": "input_text", "text": "Hello"}]


async def test_terminal_status_is_never_overwritten(collection: AsyncCollection) -> None:
    requested_, created, in_progress, _, completed = lifecycle(RID)
    # A retried chat call re-emits `in_progress` with a sequence number above the terminal one.
    reemitted = streamed(RID, 20, "in_progress", {"response": response(RID, "in_progress")})

    doc = await fold_fresh(collection, [requested_, completed, created, in_progress, reemitted])

    assert doc["status"] == "completed"
    assert doc["response"] == completed.payload["response"]


async def test_a_newer_lifecycle_event_replaces_an_older_one(collection: AsyncCollection) -> None:
    queued = streamed(RID, 0, "queued", {"response": response(RID, "queued", background=True)})
    running = streamed(RID, 1, "created", {"response": response(RID, "in_progress", background=True)})

    doc = await fold_fresh(collection, [requested(RID), running, queued])

    assert doc["status"] == "in_progress"


async def test_the_request_alone_reads_as_its_opening_state(collection: AsyncCollection) -> None:
    running = await fold_fresh(collection, [requested(RID)])
    assert running["status"] == running["response"]["status"] == "in_progress"
    assert running["response"]["id"] == RID and running["response"]["output"] == []
    await collection.delete_many({})
    queued = await fold_fresh(collection, [requested(RID, background=True)])
    assert queued["status"] == queued["response"]["status"] == "queued"


async def test_the_request_never_overwrites_a_state_projected_before_it(collection: AsyncCollection) -> None:
    *_, completed = lifecycle(RID)
    doc = await fold_fresh(collection, [completed, requested(RID)])
    assert doc["status"] == "completed" and doc["response"] == completed.payload["response"]


async def test_deletion_leaves_a_tombstone_nothing_can_revive(collection: AsyncCollection) -> None:
    events = lifecycle(RID)
    gone = deleted(RID)
    tombstone = {"_id": RID, "tenant": TENANT, "deleted": True, "expires_at": expiry(gone.occurred_at)}

    assert await fold_fresh(collection, [*events, gone]) == tombstone
    assert await fold_fresh(collection, [*events, gone, *events]) == tombstone
    assert await fold_fresh(collection, [gone, *events]) == tombstone
    assert await fold_fresh(collection, [events[0], gone, *events[1:]]) == tombstone


async def test_a_response_not_to_store_writes_nothing(collection: AsyncCollection) -> None:
    events = lifecycle(RID, store=False)
    assert [projection.write_for(e, ttl_s=TTL_S) for e in events] == [None] * len(events)
    assert await fold_fresh(collection, events) is None


def test_only_lifecycle_events_write() -> None:
    _, created, running, item_done, completed = lifecycle(RID)
    delta = streamed(RID, 3, "output_text.delta", {"item_id": "m", "output_index": 0, "delta": "Hi"})
    assert projection.write_for(completed, ttl_s=TTL_S) is not None
    assert projection.write_for(item_done, ttl_s=TTL_S) is None
    assert projection.write_for(delta, ttl_s=TTL_S) is None
    # A foreground response's opening states are never read: its client waits for the end.
    assert projection.write_for(created, ttl_s=TTL_S) is None
    assert projection.write_for(running, ttl_s=TTL_S) is None
    background = streamed(RID, 1, "in_progress", {"response": response(RID, "in_progress", background=True)})
    assert projection.write_for(background, ttl_s=TTL_S) is not None


async def test_input_items_get_stable_ids_and_list_content(collection: AsyncCollection) -> None:
    items = [
        {"type": "message", "role": "assistant", "content": "Earlier answer"},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"type": "message", "role": "user", "content": "Thanks", "id": "msg_client"},
        {"type": "item_reference", "id": "msg_elsewhere"},
    ]
    doc = await fold_fresh(collection, [requested(RID, input=items)])

    stored = doc["input_items"]
    assert [item["id"] for item in stored] == [
        derived_id("msg", RID, "input", 0),
        derived_id("fc", RID, "input", 1),
        derived_id("fco", RID, "input", 2),
        "msg_client",
        "msg_elsewhere",
    ]
    assert stored[0]["content"] == [{"type": "output_text", "text": "Earlier answer", "annotations": []}]
    assert stored[2]["output"] == "42"

"""Conversations folded into a real MongoDB-wire server through ``shared.readmodel.conversations.fold``:
each change applies once however often it is delivered, and a response's turn is appended once, whole,
whichever of its request and its end is folded first."""

import asyncio
import itertools

import nats
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.store import conversations as turns
from services.store import handlers
from shared import eventlog
from shared.domain import conversations
from shared.events import (
    ConversationCreated,
    ConversationDeleted,
    ConversationItemDeleted,
    ConversationItemsAdded,
    ConversationUpdated,
    Event,
    ResponseRequested,
)
from shared.ids import derived_id
from shared.readmodel import conversations as store
from shared.request_model import ResponseCreateRequest

from .samples import CREATED_AT, TENANT, assistant_message, response, streamed

CID = "conv_1"


@pytest.fixture
async def convs(db: AsyncDatabase) -> AsyncCollection:
    collection = store.collection_of(db)
    await store.ensure_indexes(collection)
    return collection


def created(**facts) -> ConversationCreated:
    return ConversationCreated(
        event_id=derived_id("evt", CID, "created"),
        response_id=CID,
        tenant=TENANT,
        created_at=CREATED_AT,
        **facts,
    )


def added(event_id: str, *texts: str) -> ConversationItemsAdded:
    items = [
        {"id": f"msg_{event_id}_{n}", "type": "message", "role": "user", "content": t}
        for n, t in enumerate(texts)
    ]
    return ConversationItemsAdded(event_id=event_id, response_id=CID, tenant=TENANT, items=items)


def turn_request(response_id: str, text: str, *, store: bool = True) -> ResponseRequested:
    return ResponseRequested(
        event_id=derived_id("evt", response_id, "requested"),
        response_id=response_id,
        tenant=TENANT,
        request=ResponseCreateRequest(model="m", input=text, conversation=CID, store=store),
        created_at=CREATED_AT,
    )


def turn_end(response_id: str, status: str, text: str, *, store: bool = True):
    ended = {
        **response(response_id, status, (assistant_message(response_id, text),), store=store),
        "conversation": {"id": CID},
    }
    return streamed(response_id, 9, status, {"response": ended})


async def fold(collection: AsyncCollection, *events: Event) -> dict | None:
    for event in events:
        await store.fold(event, collection)
    return await collection.find_one({"_id": CID})


def texts(doc: dict | None) -> list[str]:
    return [
        part["text"] if isinstance(part, dict) else part
        for i in (doc or {}).get("items", [])
        for part in _parts(i)
    ]


def _parts(item: dict) -> list:
    content = item["content"]
    return content if isinstance(content, list) else [content]


async def test_changes_apply_once_however_often_they_are_delivered(convs: AsyncCollection) -> None:
    first, second = added("evt_a", "one"), added("evt_b", "two", "three")
    doc = await fold(convs, created(metadata={"k": "v"}), first, second, first, created(), second)
    assert texts(doc) == ["one", "two", "three"]
    assert doc["metadata"] == {"k": "v"}  # a redelivered creation does not reset what followed it
    doc = await fold(
        convs,
        ConversationItemDeleted(event_id="evt_d", response_id=CID, tenant=TENANT, item_id="msg_evt_b_0"),
    )
    assert texts(doc) == ["one", "three"]


async def test_the_latest_metadata_wins_in_any_order(convs: AsyncCollection) -> None:
    older = ConversationUpdated(
        event_id="evt_u1", response_id=CID, tenant=TENANT, metadata={"v": "1"}, occurred_at=10.0
    )
    newer = ConversationUpdated(
        event_id="evt_u2", response_id=CID, tenant=TENANT, metadata={"v": "2"}, occurred_at=20.0
    )
    doc = await fold(convs, created(occurred_at=5.0), newer, older)
    assert doc["metadata"] == {"v": "2"}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_a_turn_is_appended_once_whole_whichever_half_comes_first(
    convs: AsyncCollection, order
) -> None:
    await fold(convs, created(), added("evt_a", "before"))
    halves = [turn_request("resp_1", "hi"), turn_end("resp_1", "completed", "hello")]
    deliveries = [halves[0], halves[1], halves[0], halves[1]]  # each delivered twice
    doc = await fold(convs, *(deliveries[i] for i in order))
    assert texts(doc) == ["before", "hi", "hello"]
    assert doc.get("turns", {}) == {}
    assert doc["items"][1]["id"] == derived_id("msg", "resp_1", "input", 0)  # as the response lists it


async def test_halves_folded_concurrently_append_the_turn_once(convs: AsyncCollection) -> None:
    await fold(convs, created())
    for n in range(10):
        rid = f"resp_{n}"
        halves = [turn_request(rid, f"q{n}"), turn_end(rid, "completed", f"a{n}")] * 2
        await asyncio.gather(*(store.fold(event, convs) for event in halves))
    doc = await convs.find_one({"_id": CID})
    assert texts(doc) == [text for n in range(10) for text in (f"q{n}", f"a{n}")]


async def test_a_failed_turn_adds_nothing(convs: AsyncCollection) -> None:
    doc = await fold(convs, created(), turn_request("resp_1", "hi"), turn_end("resp_1", "failed", ""))
    assert texts(doc) == [] and doc.get("turns", {}) == {}
    doc = await fold(convs, turn_request("resp_1", "hi"))  # redelivered after the end: stays out
    assert doc.get("turns", {}) == {}


async def test_a_deleted_conversation_keeps_a_tombstone_nothing_revives(convs: AsyncCollection) -> None:
    gone = ConversationDeleted(event_id="evt_del", response_id=CID, tenant=TENANT)
    doc = await fold(convs, created(metadata={"k": "v"}), added("evt_a", "x"), gone)
    assert doc == {"_id": CID, "tenant": TENANT, "deleted": True}
    doc = await fold(
        convs,
        created(),
        added("evt_b", "y"),
        turn_request("resp_1", "hi"),
        turn_end("resp_1", "completed", "z"),
    )
    assert doc == {"_id": CID, "tenant": TENANT, "deleted": True}
    assert await store.get(convs.database, tenant=TENANT, conversation_id=CID) is None


async def test_another_tenants_turn_is_not_appended(convs: AsyncCollection) -> None:
    await fold(convs, created())
    foreign = turn_request("resp_x", "hi").model_copy(update={"tenant": "someone_else"})
    doc = await fold(convs, foreign)
    assert doc.get("turns", {}) == {}
    assert await store.items(convs.database, tenant="someone_else", conversation_id=CID) is None
    assert conversations.view(doc)["object"] == "conversation"


def test_conversation_events_have_subjects_the_store_reads_and_signals_on() -> None:
    subject = eventlog.subject_of(created())
    assert subject == f"conv.{CID}.created"
    assert handlers.response_id_of(subject) == CID  # an unstored one is signalled to its waiting api


async def test_an_unstored_turns_end_reads_its_request_from_the_log(
    convs: AsyncCollection, nats_url: str
) -> None:
    """The end of a ``store: false`` response destroys its data key next, after which its request no
    longer opens: an end folded before its request completes the turn from the log."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await eventlog.ensure_stream(js)
        await fold(convs, created())
        await eventlog.append(js, turn_request("resp_unstored", "hi", store=False))
        await turns.project(
            turn_end("resp_unstored", "completed", "hello", store=False), js=js, collection=convs
        )
    finally:
        await nc.close()
    doc = await convs.find_one({"_id": CID})
    assert texts(doc) == ["hi", "hello"] and doc.get("turns", {}) == {}

"""What a translation loads before its build (shared/readmodel/chains.py) from the MongoDB stand-in: a
chain's turns oldest first, or its conversation's items as the one earlier turn, and the items the
request references, all scoped to the tenant; one query each, and none when there is nothing to read.
The queries themselves are in tests/contract/store/test_queries.py."""

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.events import ConversationDeleted
from shared.ids import derived_id
from shared.readmodel import chains
from shared.readmodel import conversations as conversation_reads
from shared.request_model import ResponseCreateRequest

from ..store.samples import TENANT, assistant_message, lifecycle
from ..store.test_conversations import CID, added, created, texts
from ..store.test_queries import OTHER_TENANT, project_all


class Finds(monitoring.CommandListener):
    """The collections read, one entry per ``find`` sent."""

    def __init__(self) -> None:
        self.collections: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.collections.append(event.command["find"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def finds() -> Finds:
    return Finds()


@pytest.fixture
async def reader(mongo_uri: str, db: AsyncDatabase, finds: Finds) -> AsyncIterator[AsyncDatabase]:
    """The test's database through a client whose reads ``finds`` records."""
    client = AsyncMongoClient(mongo_uri, event_listeners=[finds])
    try:
        yield client[db.name]
    finally:
        await client.close()


@pytest.fixture
async def conversation(db: AsyncDatabase) -> None:
    """``CID``: the tenant's conversation holding three items."""
    collection = conversation_reads.collection_of(db)
    for event in (created(), added("evt_a", "one"), added("evt_b", "two", "three")):
        await conversation_reads.fold(event, collection)


def _asking(*, references: tuple[str, ...] = (), **fields) -> ResponseCreateRequest:
    referenced = [{"type": "item_reference", "id": item_id} for item_id in references]
    return ResponseCreateRequest(
        model="m", input=[*referenced, {"role": "user", "content": "Next"}], **fields
    )


async def test_a_chain_is_loaded_oldest_first_for_its_tenant_only(
    reader: AsyncDatabase, collection: AsyncCollection, finds: Finds
):
    for response_id in ("resp_2", "resp_1"):  # stored newest first
        await project_all(collection, lifecycle(response_id))
    loaded = await chains.load(reader, tenant=TENANT, chain=["resp_1", "resp_2"], request=_asking())
    assert [doc["_id"] for doc in loaded.history] == ["resp_1", "resp_2"]
    assert loaded.history[0]["response"]["output"] == [assistant_message("resp_1", "Hi there")]
    assert (loaded.references, loaded.conversation_missing) == ({}, False)
    assert finds.collections == ["responses"]

    foreign = await chains.load(reader, tenant=OTHER_TENANT, chain=["resp_1", "resp_2"], request=_asking())
    assert foreign.history == []


async def test_referenced_items_are_found_among_the_tenants_inputs_and_outputs(
    reader: AsyncDatabase, collection: AsyncCollection, finds: Finds
):
    await project_all(collection, lifecycle("resp_1", text="First answer"))
    said, answered = derived_id("msg", "resp_1", "input", 0), assistant_message("resp_1", "First answer")
    asking = _asking(references=(said, answered["id"], "msg_unknown"))

    loaded = await chains.load(reader, tenant=TENANT, chain=[], request=asking)
    assert loaded.history == []
    assert set(loaded.references) == {said, answered["id"]}
    assert loaded.references[answered["id"]] == answered
    assert loaded.references[said]["content"] == [{"type": "input_text", "text": "Hello"}]
    # The references only, by input and by output item: an empty chain is not read. The unknown one
    # is looked for twice more: it may be one the store is about to write.
    assert finds.collections == ["responses", "responses"] * 3

    assert (await chains.load(reader, tenant=OTHER_TENANT, chain=[], request=asking)).references == {}


async def test_nothing_is_read_when_there_is_nothing_to_read(reader: AsyncDatabase, finds: Finds):
    loaded = await chains.load(reader, tenant=TENANT, chain=[], request=_asking())
    assert loaded == chains.Loaded()
    assert finds.collections == []


@pytest.mark.usefixtures("conversation")
async def test_a_conversations_items_are_the_history(
    reader: AsyncDatabase, collection: AsyncCollection, finds: Finds
):
    await project_all(collection, lifecycle("resp_1"))
    # A conversation stands for the chain: a chain named beside it is not read.
    loaded = await chains.load(reader, tenant=TENANT, chain=["resp_1"], request=_asking(conversation=CID))
    [turn] = loaded.history
    assert texts({"items": turn["input_items"]}) == ["one", "two", "three"]
    assert loaded.conversation_missing is False
    assert finds.collections == ["conversations"]


@pytest.mark.parametrize("who", ["missing", "foreign", "deleted"])
@pytest.mark.usefixtures("conversation")
async def test_a_conversation_not_the_tenants_reads_as_missing_with_no_history(
    reader: AsyncDatabase, db: AsyncDatabase, who: str
):
    tenant, conversation_id = TENANT, CID
    if who == "missing":
        conversation_id = "conv_missing"
    elif who == "foreign":
        tenant = OTHER_TENANT
    else:
        gone = ConversationDeleted(event_id="evt_del", response_id=CID, tenant=TENANT)
        await conversation_reads.fold(gone, conversation_reads.collection_of(db))
    asking = _asking(conversation={"id": conversation_id})
    loaded = await chains.load(reader, tenant=tenant, chain=[], request=asking)
    assert (loaded.history, loaded.conversation_missing) == ([], True)


async def test_an_item_the_store_writes_after_the_first_look_is_found(
    reader: AsyncDatabase, collection: AsyncCollection, monkeypatch: pytest.MonkeyPatch
):
    """The store lingers before it writes (shared/readmodel/bulk.py); the client names the item at once."""
    answered = assistant_message("resp_late", "Late answer")
    looked = chains.queries.find_items

    async def writing_after_the_first_look(*args, **kwargs) -> dict:
        found = await looked(*args, **kwargs)
        if not found:
            await project_all(collection, lifecycle("resp_late", text="Late answer"))
        return found

    monkeypatch.setattr(chains.queries, "find_items", writing_after_the_first_look)
    loaded = await chains.load(reader, tenant=TENANT, chain=[], request=_asking(references=(answered["id"],)))

    assert loaded.references == {answered["id"]: answered}

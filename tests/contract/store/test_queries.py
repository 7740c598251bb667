"""Reads of the projection: owner scoping, tombstones, chain order, item lookup, input-item pages."""

from collections.abc import Iterable

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.domain import projection
from shared.events import Event
from shared.ids import derived_id
from shared.readmodel import queries, repository

from .samples import TENANT, assistant_message, deleted, lifecycle, requested

OTHER_TENANT = "key_tenant_b"


async def project_all(collection: AsyncCollection, events: Iterable[Event], *, ttl_s: int = 3600) -> None:
    for event in events:
        if (write := projection.write_for(event, ttl_s=ttl_s)) is not None:
            await repository.apply(collection, write)


async def test_a_response_reads_only_for_its_owner_and_until_deleted(
    db: AsyncDatabase, collection: AsyncCollection
) -> None:
    await project_all(collection, lifecycle("resp_a"))

    doc = await queries.get_response_doc(db, tenant=TENANT, response_id="resp_a")
    assert doc["response"]["status"] == "completed"
    assert await queries.get_response_doc(db, tenant=OTHER_TENANT, response_id="resp_a") is None
    assert await queries.get_response_doc(db, tenant=TENANT, response_id="resp_missing") is None

    await project_all(collection, [deleted("resp_a")])
    assert await queries.get_response_doc(db, tenant=TENANT, response_id="resp_a") is None


async def test_chain_docs_come_in_the_order_asked_without_the_missing(
    db: AsyncDatabase, collection: AsyncCollection
) -> None:
    for rid in ("resp_1", "resp_2", "resp_3", "resp_gone"):
        await project_all(collection, lifecycle(rid))
    await project_all(collection, [deleted("resp_gone")])

    docs = await queries.get_chain_docs(
        db, tenant=TENANT, ids=["resp_3", "resp_missing", "resp_1", "resp_gone", "resp_2"]
    )

    assert [d["_id"] for d in docs] == ["resp_3", "resp_1", "resp_2"]
    assert await queries.get_chain_docs(db, tenant=OTHER_TENANT, ids=["resp_1"]) == []


async def test_items_are_found_by_id_among_inputs_and_outputs(
    db: AsyncDatabase, collection: AsyncCollection
) -> None:
    await project_all(collection, lifecycle("resp_1", text="First answer"))
    await project_all(collection, [requested("resp_2", input=[{"type": "item_reference", "id": "msg_x"}])])
    input_id = derived_id("msg", "resp_1", "input", 0)
    output = assistant_message("resp_1", "First answer")

    found = await queries.find_items(db, tenant=TENANT, item_ids=[input_id, output["id"], "msg_x"])

    assert found == {
        input_id: {
            "id": input_id,
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello"}],
        },
        output["id"]: output,
    }
    assert await queries.find_items(db, tenant=OTHER_TENANT, item_ids=[input_id]) == {}


def _doc_with_items(count: int) -> dict:
    return {"input_items": [{"id": f"item_{i}", "type": "message"} for i in range(count)]}


def _ids(page: dict) -> list[str]:
    return [item["id"] for item in page["data"]]


def test_pages_are_newest_first_by_default_order() -> None:
    doc = _doc_with_items(5)

    first = queries.page_input_items(doc, limit=2, order="desc", after=None)
    second = queries.page_input_items(doc, limit=2, order="desc", after=first["last_id"])
    last = queries.page_input_items(doc, limit=2, order="desc", after=second["last_id"])

    assert first == {
        "object": "list",
        "data": doc["input_items"][4:2:-1],
        "first_id": "item_4",
        "last_id": "item_3",
        "has_more": True,
    }
    assert _ids(second) == ["item_2", "item_1"]
    assert second["has_more"] is True
    assert _ids(last) == ["item_0"]
    assert (last["first_id"], last["last_id"], last["has_more"]) == ("item_0", "item_0", False)


def test_pages_in_ascending_order() -> None:
    doc = _doc_with_items(3)

    page = queries.page_input_items(doc, limit=2, order="asc", after="item_0")

    assert _ids(page) == ["item_1", "item_2"]
    assert page["has_more"] is False


@pytest.mark.parametrize(
    ("doc", "after"), [(_doc_with_items(0), None), (_doc_with_items(3), "item_unknown"), ({}, None)]
)
def test_an_empty_page_has_no_ids(doc: dict, after: str | None) -> None:
    page = queries.page_input_items(doc, limit=20, order="desc", after=after)
    assert page == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def test_a_full_last_page_has_no_more() -> None:
    page = queries.page_input_items(_doc_with_items(2), limit=2, order="desc", after=None)
    assert _ids(page) == ["item_1", "item_0"]
    assert page["has_more"] is False

"""The projection's rules (shared/domain/projection.py), without MongoDB: which events write and which do
not, what a deletion erases and what the api is told, how input items are stored, and the ranks that
keep a finished response finished. Applying the writes to the stand-in, in any order and any number of
times, is tested in tests/contract/store/test_project.py."""

from datetime import UTC, datetime

import pytest

from shared import subjects
from shared.domain import projection
from shared.events import ResponseDeleted, ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.request_model import ResponseCreateRequest

RID, TENANT, CREATED_AT, TTL_S = "resp_p1", "key_t", 1_700_000_000, 3600
# The Response's status in each event that carries one; every other event shows it in progress.
STATUSES = {"response.queued": "queued", "response.completed": "completed", "response.failed": "failed"}

TURN = {"id": "conv_1"}  # a response that is a turn of a conversation


def requested(**fields) -> ResponseRequested:
    request = ResponseCreateRequest.model_validate({"model": "m", "input": "Hello", **fields})
    return ResponseRequested(
        event_id="evt_r", response_id=RID, tenant=TENANT, request=request, created_at=CREATED_AT
    )


def streamed(
    kind: str,
    seq: int,
    *,
    store: bool = True,
    background: bool = False,
    conversation: dict | None = None,
    **internal,
) -> ResponseStreamed:
    status = STATUSES.get(kind, "in_progress")
    response = {
        "id": RID,
        "created_at": CREATED_AT,
        "status": status,
        "store": store,
        "background": background,
        **({"conversation": conversation} if conversation else {}),
    }
    payload = {"type": kind, "sequence_number": seq, "response": response}
    return ResponseStreamed.of(payload, response_id=RID, tenant=TENANT, **internal)


def deleted() -> ResponseDeleted:
    return ResponseDeleted(event_id="evt_d", response_id=RID, tenant=TENANT, occurred_at=CREATED_AT + 10)


def test_a_stored_request_sets_its_facts_and_opens_the_response():
    write = projection.write_for(requested(), ttl_s=TTL_S)
    facts = write.update["$set"]
    assert (facts["tenant"], facts["created_at"], facts["chain"]) == (TENANT, CREATED_AT, [])
    assert facts["request"]["input"] == "Hello"
    assert facts["expires_at"] == datetime.fromtimestamp(CREATED_AT + TTL_S, tz=UTC)
    opening = write.update["$setOnInsert"]
    assert opening["status"] == "in_progress" and opening["response"]["id"] == RID
    assert write.filter == {"_id": RID, "deleted": {"$ne": True}}  # nothing applies to a tombstone


def test_a_background_request_reads_as_queued_until_its_first_state():
    write = projection.write_for(requested(background=True), ttl_s=TTL_S)
    assert write.update["$setOnInsert"]["status"] == "queued"


def test_an_mcp_tools_secrets_are_not_stored():
    mcp = {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://m.example.com",
        "authorization": "Bearer s3",
    }
    write = projection.write_for(requested(tools=[mcp]), ttl_s=TTL_S)
    (stored,) = write.update["$set"]["request"]["tools"]
    assert stored["server_label"] == "docs"
    assert "s3" not in repr(write.update)


@pytest.mark.parametrize(
    "event",
    [
        requested(store=False),
        streamed("response.output_text.delta", 3),
        streamed("response.output_item.done", 4),
        streamed("response.created", 0),  # a foreground response's opening: its client holds the line
        streamed("response.in_progress", 1),
        streamed("response.completed", 9, store=False),
    ],
    ids=[
        "unstored request",
        "delta",
        "item done",
        "foreground created",
        "foreground in progress",
        "unstored end",
    ],
)
def test_what_changes_no_stored_document_writes_nothing(event):
    assert projection.write_for(event, ttl_s=TTL_S) is None


@pytest.mark.parametrize("kind", ["response.queued", "response.created", "response.in_progress"])
def test_a_background_responses_states_are_each_written(kind):
    write = projection.write_for(streamed(kind, 1, background=True), ttl_s=TTL_S)
    assert write.update["$set"]["status"] in {"queued", "in_progress"}


def test_a_terminal_event_records_the_response_and_who_served_it():
    write = projection.write_for(streamed("response.completed", 9, served_by="m#2"), ttl_s=TTL_S)
    assert write.update["$set"]["status"] == "completed"
    assert write.update["$set"]["served_by"] == "m#2"
    assert write.update["$setOnInsert"]["expires_at"] == datetime.fromtimestamp(CREATED_AT + TTL_S, tz=UTC)


def test_an_end_outranks_any_state_before_it_whatever_its_number():
    end = projection.write_for(streamed("response.completed", 5), ttl_s=TTL_S)
    late = projection.write_for(streamed("response.in_progress", 10_000, background=True), ttl_s=TTL_S)
    first = projection.write_for(streamed("response.queued", 0, background=True), ttl_s=TTL_S)
    ranks = [w.update["$set"]["state_rank"] for w in (first, late, end)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 3


def test_a_deletion_leaves_a_tombstone_without_content():
    write = projection.write_for(deleted(), ttl_s=TTL_S)
    assert write.filter == {"_id": RID}
    assert write.update["$set"]["deleted"] is True
    assert write.update["$set"]["expires_at"] == datetime.fromtimestamp(CREATED_AT + 10 + TTL_S, tz=UTC)
    assert {"request", "response", "input_items", "chain", "status"} <= set(write.update["$unset"])


@pytest.mark.parametrize(
    ("event", "erases"),
    [
        (deleted(), True),
        (streamed("response.completed", 9, store=False), True),
        (streamed("response.failed", 9, store=False), True),
        (streamed("response.completed", 9), False),
        (streamed("response.in_progress", 1, store=False), False),
        (requested(store=False), False),
    ],
    ids=[
        "deleted",
        "unstored completed",
        "unstored failed",
        "stored completed",
        "unstored running",
        "request",
    ],
)
def test_a_deletion_or_the_end_of_an_unstored_response_erases_its_key(event, erases):
    assert projection.erases(event) is erases


@pytest.mark.parametrize(
    ("event", "signal"),
    [
        (streamed("response.completed", 9, conversation=TURN), {"status": "completed"}),
        (streamed("response.failed", 9, conversation=TURN), {"status": "failed"}),
        (streamed("response.queued", 0, background=True, conversation=TURN), {"status": "queued"}),
        (deleted(), {"status": "deleted"}),
        (requested(conversation="conv_1"), {"status": subjects.REQUEST_PROJECTED}),
        (requested(conversation="conv_1", store=False), {"status": subjects.REQUEST_PROJECTED}),
        (streamed("response.in_progress", 1, background=True, conversation=TURN), None),
        (streamed("response.output_text.delta", 2, conversation=TURN), None),
        # Outside a conversation nobody waits for the store (shared/readmodel/fresh.py).
        (streamed("response.completed", 9), None),
        (streamed("response.queued", 0, background=True), None),
        (requested(), None),
    ],
    ids=[
        "turn's end",
        "turn failed",
        "turn queued",
        "deleted",
        "turn's request",
        "unstored turn's request",
        "turn in progress",
        "delta",
        "end",
        "queued",
        "request",
    ],
)
def test_the_api_is_told_what_it_may_be_waiting_for(event, signal):
    assert projection.projected_signal(event) == signal


def test_input_items_are_stored_with_derived_ids_and_listed_content():
    (item,) = ResponseCreateRequest(model="m", input="Hi").input_items()
    stored = projection.stored_item(item, RID, 0)
    assert stored == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hi"}],
        "id": derived_id("msg", RID, "input", 0),
    }
    assert projection.stored_item(item, RID, 0)["id"] == stored["id"]
    assert projection.stored_item(item, RID, 1)["id"] != stored["id"]


def test_an_item_keeps_its_own_id_and_an_assistants_text_is_output_text():
    request = ResponseCreateRequest.model_validate(
        {
            "model": "m",
            "input": [{"type": "message", "role": "assistant", "content": "Done.", "id": "msg_mine"}],
        }
    )
    (item,) = request.input_items()
    stored = projection.stored_item(item, RID, 0)
    assert stored["id"] == "msg_mine"
    assert stored["content"] == [{"type": "output_text", "text": "Done.", "annotations": []}]

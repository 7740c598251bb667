"""The projection's rules: the MongoDB write each logged event makes. Pure: no I/O.

One document per stored response, ``_id = response_id``::

    tenant                                                  every event (the owner never changes)
    created_at, request, chain, input_items, expires_at     ResponseRequested
    status, response, state_rank                            the highest-ranked lifecycle ResponseStreamed
    served_by                                               the terminal event (a worker's deployment id)
    deleted                                                 ResponseDeleted, which leaves a tombstone

Replicas apply events concurrently and JetStream redelivers, so every write is an upsert whose
filter makes it idempotent and order-independent: a request's fields are immutable facts, set
whole; a lifecycle event applies only while its rank beats the stored one; nothing applies to a
tombstone. Folding the log in any order, any number of times, ends in the same document.

``fold`` is the same rules as plain Python over a document in memory: the reference the MongoDB writes
are tested against (tests/contract/store/test_reference_fold.py folds the same event sequences both
ways and compares the documents).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import subjects
from shared.domain.requests import build_response
from shared.events import Event, ResponseDeleted, ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.request_model import InputItem, McpTool, ResponseCreateRequest

Doc = dict[str, Any]

# A terminal event outranks every non-terminal one whatever their sequence numbers, so a late
# ``in_progress`` (or one re-emitted by a retried chat call) can never reopen a finished response.
_TERMINAL_RANK = 1 << 40

# What a deletion erases; the tombstone keeps only its owner, the flag and its own expiry.
_CONTENT_FIELDS = (
    "created_at", "request", "chain", "input_items", "status", "response", "state_rank", "served_by",
)  # fmt: skip

_ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


@dataclass(frozen=True)
class Write:
    """One ``update_one(filter, update, upsert=upsert)`` on a collection of the projection."""

    filter: Doc
    update: Doc
    # False for a write that only changes a document something else made (a conversation's items).
    upsert: bool = True
    # The document the write makes where there is none, for a write that nearly always makes one: it
    # is inserted first, the update applied only if the document exists (bench/README.md: an insert
    # costs the embedded stand-in a fraction of an upsert's CPU).
    insert: Doc | None = None


def write_for(event: Event, *, ttl_s: int) -> Write | None:
    """The write that folds ``event`` into its response's document, or None if it changes nothing."""
    match event:
        case ResponseRequested():
            return _requested(event, ttl_s) if event.request.store else None
        # The stream events that carry the whole Response object, the only ones the store receives. A
        # response still in progress is shown without its finished items: the terminal event has them.
        case ResponseStreamed() if event.type in subjects.STATE_EVENT_TYPES:
            return _streamed(event, ttl_s)
        case ResponseDeleted():
            return _deleted(event, ttl_s)
    return None


# Told to the api instead of a projected signal when an event of the response could not be stored
# (its delivery failed for good): a response that GET would not find must not be answered as stored.
UNSTORED: Doc = {"status": subjects.UNSTORED}


def erases(event: Event) -> bool:
    """Whether projecting ``event`` must first destroy its response's data key: a deletion, or the end
    of a response the client asked not to store (``store: false``), whose content must not outlive it."""
    match event:
        case ResponseDeleted():
            return True
        case ResponseStreamed() if event.is_terminal:
            return event.payload["response"].get("store") is False
    return False


def written_with_its_end(event: ResponseRequested) -> bool:
    """Whether the store may write ``event`` together with its response's end: nobody reads a
    foreground response's projection while it runs (its client holds the connection, and a read by
    id finds it in the log, shared/readmodel/fresh.py); a background response is read while it runs,
    and a conversation's turn is answered once its request is projected (``projected_signal``)."""
    request = event.request
    return request.store and not request.background and request.conversation is None


def together(request: ResponseRequested, end: ResponseStreamed, *, ttl_s: int) -> Doc:
    """The document that ``request`` and then ``end`` leave behind where there was none."""
    doc = fold(fold(None, request, ttl_s=ttl_s), end, ttl_s=ttl_s)
    assert doc is not None  # a stored request always leaves a document
    return doc


def projected_signal(event: Event) -> Doc | None:
    """What the store tells the api once ``event`` is projected, if an api may be waiting for it: a
    deletion, and a turn of a conversation (appended from its request and its end, stored or not).
    Any other response is answered without waiting for the store (shared/readmodel/fresh.py)."""
    match event:
        # In the background, a turn is answered once its queued state is readable, else at its end.
        case ResponseStreamed() if (event.is_terminal or event.type == "response.queued") and (
            event.payload["response"].get("conversation")
        ):
            return {"status": event.payload["response"]["status"]}
        case ResponseDeleted():
            return {"status": "deleted"}
        case ResponseRequested() if event.request.conversation is not None:
            return {"status": subjects.REQUEST_PROJECTED}
    return None


def fold(doc: Doc | None, event: Event, *, ttl_s: int) -> Doc | None:
    """The document ``event`` leaves behind, from the one before it (None: no document yet)."""
    rid = event.response_id
    match event:
        case ResponseRequested() if event.request.store:
            if doc is not None and doc.get("deleted"):
                return doc
            status, opening = _opening(event)
            first = {"_id": rid, "status": status, "response": opening, "state_rank": -1}
            return {**(doc or first), **_request_facts(event, ttl_s)}
        case ResponseStreamed() if event.type in subjects.STATE_EVENT_TYPES and _kept(event):
            if doc is not None and (doc.get("deleted") or doc.get("state_rank", -1) >= _rank(event)):
                return doc
            first = {"_id": rid, "expires_at": _state_expiry(event, ttl_s)}
            return {**(doc or first), **_state_fields(event)}
        case ResponseDeleted():
            kept = {k: v for k, v in (doc or {"_id": rid}).items() if k not in _CONTENT_FIELDS}
            return {**kept, **_tombstone_fields(event, ttl_s)}
    return doc


def _request_facts(event: ResponseRequested, ttl_s: int) -> Doc:
    return {
        "tenant": event.tenant,
        "created_at": event.created_at,
        "request": _stored_request(event.request),
        "chain": event.chain,
        "input_items": _input_items(event),
        "expires_at": _expiry(event.created_at, ttl_s),
    }


def _opening(event: ResponseRequested) -> tuple[str, Doc]:
    """Until its first state is projected a response reads as what it is: queued in the background,
    else running (a foreground response's opening states are not written, see `_transient`)."""
    status = "queued" if event.request.background else "in_progress"
    return status, build_response(
        event.request, response_id=event.response_id, created_at=event.created_at, status=status
    )


def _requested(event: ResponseRequested, ttl_s: int) -> Write:
    status, opening = _opening(event)
    return Write(
        filter={"_id": event.response_id, "deleted": {"$ne": True}},
        # A lifecycle event processed first has already set the state; the request must not reset it.
        update={
            "$set": _request_facts(event, ttl_s),
            "$setOnInsert": {"status": status, "response": opening, "state_rank": -1},
        },
    )


def _stored_request(request: ResponseCreateRequest) -> Doc:
    """The request as the projection keeps it: an MCP tool's ``headers`` and ``authorization`` are the
    client's secrets, read by the worker from the (sealed) log alone."""
    stored = request.model_dump(mode="json")
    stored["tools"] = [
        tool.public() if isinstance(tool, McpTool) else dumped
        for tool, dumped in zip(request.tools, stored["tools"], strict=True)
    ]
    return stored


def _kept(event: ResponseStreamed) -> bool:
    return event.payload["response"].get("store") is not False and not _transient(event)


def _rank(event: ResponseStreamed) -> int:
    return event.sequence_number + (_TERMINAL_RANK if event.is_terminal else 0)


def _state_fields(event: ResponseStreamed) -> Doc:
    response = event.payload["response"]
    return {
        "tenant": event.tenant,
        "response": response,
        "status": response["status"],
        "state_rank": _rank(event),
        # The next turn's affinity: its request prefers this deployment while it is healthy.
        **({"served_by": event.served_by} if event.served_by else {}),
    }


def _state_expiry(event: ResponseStreamed, ttl_s: int) -> datetime:
    # Expire even if the request event never lands; the request sets the same instant.
    return _expiry(event.payload["response"].get("created_at", event.occurred_at), ttl_s)


def _streamed(event: ResponseStreamed, ttl_s: int) -> Write | None:
    if not _kept(event):
        return None
    rank = _rank(event)
    return Write(
        # `$not: {$gte}` also matches a document without a rank yet (made by the request alone).
        filter={"_id": event.response_id, "deleted": {"$ne": True}, "state_rank": {"$not": {"$gte": rank}}},
        update={"$set": _state_fields(event), "$setOnInsert": {"expires_at": _state_expiry(event, ttl_s)}},
    )


def _transient(event: ResponseStreamed) -> bool:
    """A foreground response's opening states: its client holds the connection until the end, so
    only its request and its end are projected, two writes instead of four. A background response
    is read while it runs, so each of its states is kept. (The worker logs a foreground stream's
    opening with its deltas, where the store does not read; this rule is for those logged alone.)"""
    opening = event.type in ("response.created", "response.in_progress")
    return opening and not event.payload["response"].get("background")


def _tombstone_fields(event: ResponseDeleted, ttl_s: int) -> Doc:
    # The expiry restarts at the deletion so the tombstone outlives any redelivery of the request,
    # and it is the same whether the request was projected before or after.
    return {"tenant": event.tenant, "deleted": True, "expires_at": _expiry(event.occurred_at, ttl_s)}


def _deleted(event: ResponseDeleted, ttl_s: int) -> Write:
    return Write(
        filter={"_id": event.response_id},
        update={"$set": _tombstone_fields(event, ttl_s), "$unset": dict.fromkeys(_CONTENT_FIELDS, "")},
    )


def _input_items(event: ResponseRequested) -> list[Doc]:
    """The input as OpenAI lists it: each item with an id (derived, so replay keeps it) and message
    content as a list of parts."""
    items = event.request.input_items()
    return [stored_item(item, event.response_id, index) for index, item in enumerate(items)]


def stored_item(item: InputItem, owner_id: str, index: int) -> Doc:
    """An input item as stored: its id, if it has none, derives from its owner (a response, or the
    event that added it to a conversation) and its place there."""
    stored = item.model_dump(mode="json", exclude_none=True)
    if "id" not in stored:
        prefix = _ID_PREFIXES.get(stored["type"], "item")
        stored["id"] = derived_id(prefix, owner_id, "input", index)
    if stored["type"] == "message" and isinstance(stored["content"], str):
        stored["content"] = [_text_part(stored["role"], stored["content"])]
    return stored


def _text_part(role: str, text: str) -> Doc:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _expiry(timestamp: float, ttl_s: int) -> datetime:
    return datetime.fromtimestamp(timestamp + ttl_s, tz=UTC)

"""Conversations: the MongoDB write each logged event makes, and what clients are shown. Pure: no I/O.

One document per conversation, ``_id = conversation_id``::

    tenant, created_at                 ConversationCreated
    metadata, metadata_rank            ConversationCreated, ConversationUpdated (the latest one wins)
    items                              ConversationCreated, ConversationItemsAdded, a response's turn;
                                       ConversationItemDeleted takes one out
    appended                           the appends applied so far (event ids, response ids): each once
    turns.<response_id>                half of a response's turn, until the other half arrives
    deleted                            ConversationDeleted, which leaves a tombstone

A response made with ``conversation`` is appended (its input items, then its output) once it ends
``completed`` or ``incomplete``; a failed or cancelled one adds nothing. Its input comes from its
request event and its output from its terminal event, which the store folds concurrently in either
order: each half is parked under ``turns.<response_id>``, and whichever handler sees both halves
appends them (``turn_completion``), guarded by ``appended`` so that two handlers, or a redelivery,
append a turn exactly once.
"""

from typing import Any

from shared.domain.projection import Write, stored_item
from shared.events import (
    ConversationCreated,
    ConversationDeleted,
    ConversationEvent,
    ConversationItemDeleted,
    ConversationItemsAdded,
    ConversationUpdated,
    Event,
    ResponseRequested,
    ResponseStreamed,
)
from shared.request_model import InputItem

Doc = dict[str, Any]

# The terminal statuses whose turn is appended; OpenAI adds nothing of a response that failed.
_APPENDED_STATUSES = frozenset({"completed", "incomplete"})
# What a deletion erases; the tombstone keeps only its owner and the flag.
_CONTENT_FIELDS = ("created_at", "metadata", "metadata_rank", "items", "appended", "turns")


def new_items(items: list[InputItem], *, owner_id: str) -> list[Doc]:
    """Items as a conversation holds them: each with an id (derived from ``owner_id``, the event that
    adds them, so a replay keeps it), message content as parts, and a message's ``status``."""
    stored = [stored_item(item, owner_id, index) for index, item in enumerate(items)]
    return [{**item, "status": "completed"} if _is_bare_message(item) else item for item in stored]


def _is_bare_message(item: Doc) -> bool:
    return item["type"] == "message" and "status" not in item


def write_for(event: Event) -> Write | None:
    """The write that folds a conversation event into its document, or None for any other event."""
    match event:
        case ConversationCreated():
            return _created(event)
        case ConversationUpdated():
            return Write(
                filter={**_live(event), "metadata_rank": {"$not": {"$gte": event.occurred_at}}},
                update={"$set": {"metadata": event.metadata, "metadata_rank": event.occurred_at}},
                upsert=False,
            )
        case ConversationItemsAdded():
            return _appended(event.conversation_id, event.event_id, event.items, tenant=event.tenant)
        case ConversationItemDeleted():
            return Write(
                filter=_live(event), update={"$pull": {"items": {"id": event.item_id}}}, upsert=False
            )
        case ConversationDeleted():
            return Write(
                filter={"_id": event.conversation_id},
                update={
                    "$set": {"tenant": event.tenant, "deleted": True},
                    "$unset": dict.fromkeys(_CONTENT_FIELDS, ""),
                },
            )
    return None


def erases(event: Event) -> bool:
    """Whether projecting ``event`` must first destroy its conversation's data key."""
    return isinstance(event, ConversationDeleted)


def projected_signal(event: Event) -> Doc | None:
    """What the store tells the api once a conversation event is projected: which one it was, since
    several writers of one conversation share its signal subject."""
    return {"event_id": event.event_id} if isinstance(event, ConversationEvent) else None


def turn_of(event: Event) -> tuple[str, str] | None:
    """``(conversation_id, response_id)`` when ``event`` is half of a response's turn in a conversation:
    its request, or its end."""
    match event:
        case ResponseRequested() if (conversation := event.request.conversation_id()) is not None:
            return conversation, event.response_id
        case ResponseStreamed() if event.is_terminal:
            if conversation := (event.payload["response"].get("conversation") or {}).get("id"):
                return conversation, event.response_id
    return None


def turn_write(event: Event) -> Write | None:
    """Park the half of a turn ``event`` carries: the request's input items, or the end's output (None
    for an end that appends nothing)."""
    if (turn := turn_of(event)) is None:
        return None
    conversation_id, response_id = turn
    match event:
        case ResponseRequested():
            half = {"input": new_items(event.request.input_items(), owner_id=response_id)}
        case ResponseStreamed():
            response = event.payload["response"]
            appended = response["status"] in _APPENDED_STATUSES
            half = {"output": list(response.get("output") or []) if appended else None, "ended": True}
    return Write(
        filter=_unapplied(conversation_id, response_id, tenant=event.tenant),
        update={"$set": {f"turns.{response_id}.{field}": value for field, value in half.items()}},
        upsert=False,
    )


def turn_completion(doc: Doc | None, response_id: str) -> Write | None:
    """The append of a turn whose halves ``doc`` (the conversation read after parking one) holds both
    of, or None while one is missing. The turn leaves ``turns`` as it is appended."""
    turn = ((doc or {}).get("turns") or {}).get(response_id) or {}
    if "input" not in turn or not turn.get("ended"):
        return None
    items = [*turn["input"], *turn["output"]] if turn["output"] is not None else []
    write = _appended(doc["_id"], response_id, items, tenant=doc["tenant"])
    return Write(
        filter=write.filter,
        update={**write.update, "$unset": {f"turns.{response_id}": ""}},
        upsert=False,
    )


def view(doc: Doc) -> Doc:
    """The Conversation object clients are shown."""
    return {
        "id": doc["_id"],
        "object": "conversation",
        "created_at": doc["created_at"],
        "metadata": doc.get("metadata") or {},
    }


def deleted_view(conversation_id: str) -> Doc:
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


def _created(event: ConversationCreated) -> Write:
    facts = {
        "tenant": event.tenant,
        "created_at": event.created_at,
        "metadata": event.metadata,
        "metadata_rank": event.occurred_at,
        "items": event.items,
        "appended": [event.event_id],
    }
    # Only ever inserted: a redelivered creation must not undo later changes, nor revive a tombstone.
    return Write(filter={"_id": event.conversation_id}, update={"$setOnInsert": facts})


def _appended(conversation_id: str, append_id: str, items: list[Doc], *, tenant: str) -> Write:
    update: Doc = {"$addToSet": {"appended": append_id}}
    if items:
        update["$push"] = {"items": {"$each": items}}
    return Write(filter=_unapplied(conversation_id, append_id, tenant=tenant), update=update, upsert=False)


def _unapplied(conversation_id: str, append_id: str, *, tenant: str) -> Doc:
    live = {"_id": conversation_id, "tenant": tenant, "deleted": {"$ne": True}}
    return {**live, "appended": {"$ne": append_id}}


def _live(event: ConversationEvent) -> Doc:
    return {"_id": event.conversation_id, "tenant": event.tenant, "deleted": {"$ne": True}}

"""``/v1/conversations``: create, retrieve, update (metadata) and delete a conversation; list, add,
retrieve and delete its items. Every change is logged as a conversation event and answered once the
store has projected it (read-your-writes); reads come from the projection, scoped to the caller's
project. A response made with ``conversation`` is appended by the store itself, from the response's
own events (``shared/domain/conversations.py``)."""

import contextlib
import json
import logging
import time
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from services.api import bodies
from services.api.auth import Caller
from services.api.deps import CallerDep, Gateway, GatewayDep, TenantDep
from services.api.watch import NotStored
from shared import eventlog, storable, subjects
from shared.domain import conversations
from shared.errors import NotFound
from shared.events import (
    ConversationCreated,
    ConversationDeleted,
    ConversationEvent,
    ConversationItemDeleted,
    ConversationItemsAdded,
    ConversationUpdated,
)
from shared.ids import derived_id, new_id
from shared.readmodel import conversations as store
from shared.request_model import Include, InputItem, MetadataKey, MetadataValue

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/conversations")

# OpenAI's bound on the items one create or append may hold.
MAX_ITEMS_PER_REQUEST = 20

Metadata = dict[MetadataKey, MetadataValue]
# Accepted as OpenAI's; the gateway stores items whole, so nothing is left out that it could add.
IncludeQuery = Annotated[list[Include] | None, Query()]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            for key, value in data.items():
                storable.check(value, key)
        except storable.Unstorable as problem:
            raise PydanticCustomError(
                "unstorable", "{reason}", {"param": problem.param, "reason": problem.reason}
            ) from None
        return data


Body = TypeVar("Body", bound=_Body)


class ConversationCreate(_Body):
    items: list[InputItem] | None = Field(default=None, max_length=MAX_ITEMS_PER_REQUEST)
    metadata: Metadata | None = Field(default=None, max_length=16)


class ConversationUpdate(_Body):
    # Required, and null clears it (OpenAI's `Required[Optional[Metadata]]`).
    metadata: Metadata | None = Field(max_length=16)


class ItemsCreate(_Body):
    items: list[InputItem] = Field(max_length=MAX_ITEMS_PER_REQUEST)


@router.post("")
async def create_conversation(request: Request, gateway: GatewayDep, caller: CallerDep) -> dict:
    body = await _parsed(request, gateway, ConversationCreate)
    conversation_id = new_id("conv")
    event_id = derived_id("evt", conversation_id, "created")
    created = ConversationCreated(
        event_id=event_id,
        response_id=conversation_id,
        tenant=caller.tenant,
        key_id=caller.key_id,
        created_at=int(time.time()),
        items=conversations.new_items(body.items or [], owner_id=event_id),
        metadata=body.metadata or {},
    )
    if (data_keys := eventlog.data_keys(gateway.js)) is not None:
        await data_keys.create(caller.tenant, conversation_id)  # a new conversation has none to look up
    await _logged(gateway, created)
    return conversations.view({"_id": conversation_id, **created.model_dump()})


@router.get("/{conversation_id}")
async def get_conversation(conversation_id: str, gateway: GatewayDep, tenant: TenantDep) -> dict:
    return conversations.view(await _stored(gateway, tenant, conversation_id))


@router.post("/{conversation_id}")
async def update_conversation(
    conversation_id: str, request: Request, gateway: GatewayDep, caller: CallerDep
) -> dict:
    body = await _parsed(request, gateway, ConversationUpdate)
    doc = await _stored(gateway, caller.tenant, conversation_id)
    updated = ConversationUpdated(**_envelope(caller, conversation_id), metadata=body.metadata or {})
    await _logged(gateway, updated)
    return conversations.view({**doc, "metadata": updated.metadata})


@router.delete("/{conversation_id}")
async def delete_conversation(conversation_id: str, gateway: GatewayDep, caller: CallerDep) -> dict:
    await _stored(gateway, caller.tenant, conversation_id)
    deleted = ConversationDeleted(
        **{**_envelope(caller, conversation_id), "event_id": derived_id("evt", conversation_id, "deleted")}
    )
    await _logged(gateway, deleted)
    return conversations.deleted_view(conversation_id)


@router.get("/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    gateway: GatewayDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    include: IncludeQuery = None,
) -> dict:
    page = await store.page_items(
        gateway.db, tenant=tenant, conversation_id=conversation_id, limit=limit, order=order, after=after
    )
    if page is None:
        raise _missing(conversation_id)
    return page


@router.post("/{conversation_id}/items")
async def create_items(
    conversation_id: str,
    request: Request,
    gateway: GatewayDep,
    caller: CallerDep,
    include: IncludeQuery = None,
) -> dict:
    body = await _parsed(request, gateway, ItemsCreate)
    await _stored(gateway, caller.tenant, conversation_id)
    envelope = _envelope(caller, conversation_id)
    items = conversations.new_items(body.items, owner_id=envelope["event_id"])
    await _logged(gateway, ConversationItemsAdded(**envelope, items=items))
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": False,
    }


@router.get("/{conversation_id}/items/{item_id}")
async def get_item(
    conversation_id: str, item_id: str, gateway: GatewayDep, tenant: TenantDep, include: IncludeQuery = None
) -> dict:
    return await _item(gateway, tenant, conversation_id, item_id)


@router.delete("/{conversation_id}/items/{item_id}")
async def delete_item(conversation_id: str, item_id: str, gateway: GatewayDep, caller: CallerDep) -> dict:
    """Answers with the conversation, as OpenAI does."""
    await _item(gateway, caller.tenant, conversation_id, item_id)
    await _logged(gateway, ConversationItemDeleted(**_envelope(caller, conversation_id), item_id=item_id))
    return conversations.view(await _stored(gateway, caller.tenant, conversation_id))


async def _parsed(request: Request, gateway: Gateway, model: type[Body]) -> Body:
    # No body is no parameters: `POST /v1/conversations` alone makes an empty conversation.
    return await bodies.parsed(
        request, max_bytes=gateway.settings.max_body_bytes, model=model, if_empty=b"{}"
    )


def _envelope(caller: Caller, conversation_id: str) -> dict[str, Any]:
    return {
        "event_id": new_id("evt"),
        "response_id": conversation_id,
        "tenant": caller.tenant,
        "key_id": caller.key_id,
    }


async def _stored(gateway: Gateway, tenant: str, conversation_id: str) -> dict:
    doc = await store.get(gateway.db, tenant=tenant, conversation_id=conversation_id)
    if doc is None:
        raise _missing(conversation_id)
    return doc


async def _item(gateway: Gateway, tenant: str, conversation_id: str, item_id: str) -> dict:
    found = await store.items(gateway.db, tenant=tenant, conversation_id=conversation_id)
    if found is None:
        raise _missing(conversation_id)
    for item in found:
        if item.get("id") == item_id:
            return item
    raise NotFound(f"Item with id '{item_id}' not found.", param="item_id")


def _missing(conversation_id: str) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.", param="conversation_id")


async def _logged(gateway: Gateway, event: ConversationEvent) -> None:
    """Append ``event`` and wait until the store has projected it, so the answer and every read after
    it see the change; a store that does not answer within ``PROJECTION_WAIT_S`` delays only that."""
    signals = await gateway.nc.subscribe(subjects.projected(event.conversation_id))
    try:
        await eventlog.append(gateway.js, event)
        wait_s = gateway.settings.projection_wait_s
        if not await _projected(signals, event, wait_s=wait_s):
            log.warning("store did not project %s within %.1fs", event.event_id, wait_s)
    finally:
        with contextlib.suppress(Exception):  # the connection may be gone: nothing left to release
            await signals.unsubscribe()


async def _projected(signals: Any, event: ConversationEvent, *, wait_s: float) -> bool:
    """Whether the store signalled ``event`` projected within ``wait_s``; ``NotStored`` if it gave up
    on it. Other writers of the conversation share the subject: their signals are skipped."""
    until = time.monotonic() + wait_s
    while (left := until - time.monotonic()) > 0:
        try:
            msg = await signals.next_msg(timeout=left)
        except TimeoutError:
            return False
        signal = json.loads(msg.data)
        if signal.get("event_id") == event.event_id:
            return True
        if signal.get("status") == subjects.UNSTORED:
            raise NotStored(f"The change to conversation '{event.conversation_id}' could not be stored.")
    return False

"""``/v1/responses``: create (plain or streamed), retrieve, delete, list input items."""

import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.api import sse, validation
from services.api.deps import Gateway, GatewayDep, TenantDep
from services.api.watch import ResponseTimedOut, ResponseWatch
from services.store import queries
from shared import eventlog
from shared.errors import GatewayError, InvalidRequest, NotFound
from shared.events import ResponseDeleted, ResponseRequested
from shared.ids import derived_id, new_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")

# How long a finished response waits for the store before the api answers anyway: the store being
# down must not hang clients, only delay visibility.
PROJECTION_WAIT_S = 5.0


@router.post("/responses")
async def create_response(request: Request, gateway: GatewayDep, tenant: TenantDep) -> object:
    body = validation.parse_request(await request.body(), max_bytes=gateway.settings.max_body_bytes)
    validation.check_request(body, gateway.config)
    chain = await _chain_before(gateway, tenant, body.previous_response_id)
    response_id = new_id("resp")
    requested = ResponseRequested(
        event_id=derived_id("evt", response_id, "requested"),
        response_id=response_id,
        tenant=tenant,
        request=body,
        created_at=int(time.time()),
        chain=chain,
    )
    watch = await ResponseWatch.open(gateway.nc, response_id)
    try:
        await eventlog.append(gateway.js, requested)
    except BaseException:
        await watch.close()
        raise
    deadline = gateway.settings.request_deadline_s
    if body.stream:
        return StreamingResponse(
            _stream(watch, wait_projection=body.store, deadline_s=deadline), media_type="text/event-stream"
        )
    async with watch:
        try:
            final = await watch.terminal(deadline_s=deadline)
        except ResponseTimedOut:
            raise _timed_out(deadline) from None
        if body.store:
            await _await_projection(watch, response_id)
    return JSONResponse(final.payload["response"])


@router.get("/responses/{response_id}")
async def get_response(response_id: str, gateway: GatewayDep, tenant: TenantDep) -> object:
    doc = await _stored(gateway, tenant, response_id)
    return JSONResponse(doc["response"])


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, gateway: GatewayDep, tenant: TenantDep) -> object:
    await _stored(gateway, tenant, response_id)
    deleted = ResponseDeleted(
        event_id=derived_id("evt", response_id, "deleted"), response_id=response_id, tenant=tenant
    )
    async with await ResponseWatch.open(gateway.nc, response_id) as watch:
        await eventlog.append(gateway.js, deleted)
        await _await_projection(watch, response_id)
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@router.get("/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    gateway: GatewayDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> object:
    doc = await _stored(gateway, tenant, response_id)
    return queries.page_input_items(doc, limit=limit, order=order, after=after)


async def _stored(gateway: Gateway, tenant: str, response_id: str) -> dict:
    doc = await queries.get_response_doc(gateway.db, tenant=tenant, response_id=response_id)
    if doc is None or doc.get("response") is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
    return doc


async def _chain_before(gateway: Gateway, tenant: str, previous_id: str | None) -> list[str]:
    """The ids of every earlier turn, oldest first; the previous response must exist for this tenant."""
    if previous_id is None:
        return []
    doc = await queries.get_response_doc(gateway.db, tenant=tenant, response_id=previous_id)
    if doc is None:
        raise InvalidRequest(
            f"Previous response with id '{previous_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return [*doc.get("chain", []), previous_id]


async def _stream(watch: ResponseWatch, *, wait_projection: bool, deadline_s: float) -> AsyncIterator[bytes]:
    sequence_number = -1
    async with watch:
        try:
            async for event in watch.events(deadline_s=deadline_s):
                if event.is_terminal and wait_projection:
                    await _await_projection(watch, event.response_id)
                sequence_number = event.sequence_number
                yield sse.frame(event.payload)
        except ResponseTimedOut:
            error = _timed_out(deadline_s)
            yield sse.frame(
                {
                    "type": "error",
                    "code": error.code,
                    "message": error.message,
                    "param": None,
                    "sequence_number": sequence_number + 1,
                }
            )


async def _await_projection(watch: ResponseWatch, response_id: str) -> None:
    if not await watch.projected(timeout_s=PROJECTION_WAIT_S):
        log.warning("store did not project %s within %.0fs", response_id, PROJECTION_WAIT_S)


def _timed_out(deadline_s: float) -> GatewayError:
    return GatewayError(f"The response did not finish within {deadline_s:.0f}s.", code="timeout")

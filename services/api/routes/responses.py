"""``/v1/responses``: create (plain, streamed or in the background), retrieve (or resume its
stream), cancel, delete, list input items."""

import logging
import time
from collections.abc import AsyncIterator, Collection
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from nats.js.errors import NotFoundError

from services.api import bodies, metrics, planning, sse, translation, validation
from services.api.deps import CallerDep, Gateway, GatewayDep, TenantDep
from services.api.planning import Answer
from services.api.watch import Feed, ResponseTimedOut, ResponseWatch, replay
from shared import eventlog, mcp_guard, reasoning_blobs, retries, subjects
from shared.domain import sequence
from shared.errors import GatewayError, InvalidRequest, NotFound, ServiceUnavailable
from shared.events import (
    TERMINAL_STATUSES,
    ResponseCancelRequested,
    ResponseDeleted,
    ResponseRequested,
    ResponseStreamed,
)
from shared.ids import derived_id, new_id
from shared.readmodel import fresh, queries

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")

_ANY_STATUS = frozenset({"queued", "in_progress", *TERMINAL_STATUSES})
# How long a terminal event seen live may take to show up in the log before the client is told its
# outcome is not known yet: longer than a stream leader's failover (5-10 s).
_LOG_CONFIRM_S = 15.0
# Ending a queued response failed once the log refused its request: short, the log being in trouble.
_ABANDON_BUDGET = retries.Budget(total_s=5.0)


@router.post("/responses")
async def create_response(request: Request, gateway: GatewayDep, caller: CallerDep) -> object:
    body = await bodies.parsed(request, max_bytes=gateway.settings.max_body_bytes)
    for dropped in validation.check_request(body, gateway.config):
        metrics.BUILTIN_TOOLS_DROPPED.labels(dropped).inc()
    if "mcp" not in gateway.config.tools.dropped():
        await mcp_guard.check_tools(body.tools, gateway.config.mcp)  # the allow-list (SSRF): before any call
    if gateway.master is not None:
        validation.check_encrypted_reasoning(body, reasoning_blobs.opener(gateway.master, caller.tenant))
    await gateway.limiter.admit(caller)
    tenant = caller.tenant
    previous = await translation.previous_turn(gateway, tenant, body.previous_response_id)
    if (conversation_id := body.conversation_id()) is not None:
        await translation.require_conversation(gateway, tenant, conversation_id)
    response_id = new_id("resp")
    plan = planning.plan_create(
        body,
        previous,
        response_id=response_id,
        tenant=tenant,
        created_at=int(time.time()),
        key_id=caller.key_id,
    )
    if (data_keys := eventlog.data_keys(gateway.js)) is not None:
        # Made here rather than by the first append that needs it: a new response has none to look up.
        await data_keys.create(tenant, response_id)
    buffer = gateway.settings.stream_buffer_msgs
    awaits = plan.awaits_projection
    watch = await ResponseWatch.open(
        gateway.nc,
        gateway.js,
        response_id,
        # A stream shows each event as published; the other answers wait for the stored end.
        feed=Feed.LIVE if plan.answer is Answer.STREAM else Feed.STORED,
        buffer_msgs=buffer,
        follows_projection=awaits,
        awaits_request=awaits,
    )
    try:
        await _log_opening(gateway, plan.events)
    except BaseException:
        await watch.close()
        raise
    deadline = _api_deadline(gateway)
    if plan.answer is Answer.STREAM:
        live = _live(gateway, watch, wait_projection=plan.awaits_projection, deadline_s=deadline)
        return _sse(gateway, live, deadline_s=deadline)
    async with watch:
        if plan.answer is Answer.QUEUED:
            if plan.awaits_projection:
                await _await_projection(gateway, watch, response_id, _ANY_STATUS)
            return JSONResponse(plan.queued)
        try:
            final = await watch.terminal(deadline_s=deadline)  # as logged: the stored feed
        except ResponseTimedOut:
            raise _timed_out(deadline) from None
        if plan.awaits_projection:
            await _await_projection(gateway, watch, response_id, {final.payload["response"]["status"]})
    if final.http_error is not None:  # the backend refused the request itself (context length)
        return JSONResponse({"error": final.http_error["error"]}, status_code=final.http_error["status"])
    return JSONResponse(final.payload["response"])


@router.get("/responses/{response_id}")
async def get_response(
    response_id: str,
    gateway: GatewayDep,
    tenant: TenantDep,
    stream: bool = False,
    starting_after: Annotated[int, Query(ge=-1)] = -1,
) -> object:
    doc = await _stored(gateway, tenant, response_id)
    if stream:
        if not (doc["response"].get("background") or doc.get("request", {}).get("stream")):
            # Only background and streamed responses log their deltas (see services/worker/runs.py).
            raise InvalidRequest(
                "Only background or streamed responses can be streamed again.", param="stream"
            )
        deadline = _api_deadline(gateway)
        logged = replay(gateway.js, response_id, after=starting_after, deadline_s=deadline)
        return _sse(gateway, logged, deadline_s=deadline)
    return JSONResponse(doc["response"])


@router.post("/responses/{response_id}/cancel")
async def cancel_response(response_id: str, gateway: GatewayDep, caller: CallerDep) -> object:
    tenant = caller.tenant
    doc = await _stored(gateway, tenant, response_id)
    if not doc["response"].get("background"):
        raise InvalidRequest("Cannot cancel a synchronous response.", param="response_id")
    if doc["status"] in TERMINAL_STATUSES:
        return JSONResponse(doc["response"])  # cancelling again, or too late: the outcome stands
    cancel = ResponseCancelRequested(
        event_id=derived_id("evt", response_id, "cancel"),
        response_id=response_id,
        tenant=tenant,
        key_id=caller.key_id,
    )
    async with await ResponseWatch.open(
        gateway.nc, gateway.js, response_id, feed=Feed.STORED, follows_projection=False
    ) as watch:
        await eventlog.append(gateway.js, cancel)
        # Read after subscribing: an end logged before is in the log, one logged after in the feed.
        doc = await _stored(gateway, tenant, response_id)
        if doc["status"] not in TERMINAL_STATUSES and (ended := await _ended(gateway, watch)) is not None:
            return JSONResponse(ended.payload["response"])
    return JSONResponse(doc["response"])


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, gateway: GatewayDep, caller: CallerDep) -> object:
    tenant = caller.tenant
    await _stored(gateway, tenant, response_id)
    deleted = ResponseDeleted(
        event_id=derived_id("evt", response_id, "deleted"),
        response_id=response_id,
        tenant=tenant,
        key_id=caller.key_id,
    )
    async with await ResponseWatch.open(gateway.nc, gateway.js, response_id) as watch:
        await eventlog.append(gateway.js, deleted)
        await _await_projection(gateway, watch, response_id, {"deleted"})
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


async def _log_opening(gateway: Gateway, events: list[ResponseRequested | ResponseStreamed]) -> None:
    """Append a new response's opening events in order. Should the request not be logged after a
    background response's queued state was, the response is ended failed, so it never stays queued."""
    logged = 0
    try:
        for event in events:
            await eventlog.append(gateway.js, event)
            logged += 1
    except Exception:
        if 0 < logged < len(events):
            await _abandon(gateway, events[0], events[-1].response_id)
        raise


async def _abandon(gateway: Gateway, queued: ResponseStreamed, response_id: str) -> None:
    """Log response.failed after the queued state of a response whose request is not in the log."""
    try:
        await gateway.js.get_last_msg(subjects.STREAM, subjects.requested(response_id))
        return  # stored after all (only its acknowledgement was lost): it will run
    except NotFoundError:
        pass
    except Exception as error:
        log.error("%s stays queued: cannot tell whether its request was logged: %r", response_id, error)
        return
    error = {"code": "server_error", "message": "The request could not be logged; please retry it."}
    response = {**queued.payload["response"], "status": "failed", "error": error}
    number = sequence.next_after(sequence.QUEUED)
    payload = {"type": "response.failed", "sequence_number": number, "response": response}
    failed = ResponseStreamed.of(payload, response_id=response_id, tenant=queued.tenant)
    try:
        await eventlog.append(gateway.js, failed, budget=_ABANDON_BUDGET)
    except Exception as error:
        log.error("%s stays queued: its failure could not be logged: %r", response_id, error)


async def _as_logged(
    gateway: Gateway, watch: ResponseWatch, final: ResponseStreamed, *, wait_projection: bool
) -> ResponseStreamed:
    """The terminal event a stream ends with, as the log holds it: a client is never told an outcome
    the log does not end with (the live feed delivers what a dying leader never stored). The store's
    projected signal proves it for free where it is awaited (the store reads only the log); else one
    lookup in the log does."""
    status = final.payload["response"]["status"]
    if wait_projection and await _await_projection(gateway, watch, final.response_id, {status}):
        return final
    logged = await watch.logged_terminal(final, wait_s=_LOG_CONFIRM_S)
    if logged is None:
        raise ServiceUnavailable(
            f"Response '{final.response_id}' ended, but the event log has not stored its outcome yet; "
            f"retrieve it later with GET /v1/responses/{final.response_id}, or retry the request."
        )
    if logged.event_id != final.event_id:
        log.warning(
            "%s: answering the logged %s, not the live %s", final.response_id, logged.type, final.type
        )
    return logged


async def _ended(gateway: Gateway, watch: ResponseWatch) -> ResponseStreamed | None:
    """The response's terminal event as logged (``watch`` follows the stored feed); None if it did
    not end in time (the worker running it may have died: the sweeper ends it later)."""
    try:
        return await watch.terminal(deadline_s=gateway.settings.projection_wait_s)
    except ResponseTimedOut:
        return None


async def _stored(gateway: Gateway, tenant: str, response_id: str) -> dict:
    doc = await fresh.response_doc(gateway.db, gateway.log_reads, tenant=tenant, response_id=response_id)
    if doc is None or doc.get("response") is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
    return doc


async def _live(
    gateway: Gateway, watch: ResponseWatch, *, wait_projection: bool, deadline_s: float
) -> AsyncIterator[list[ResponseStreamed]]:
    async with watch:
        async for batch in watch.events(deadline_s=deadline_s):
            if batch[-1].is_terminal:
                batch[-1] = await _as_logged(gateway, watch, batch[-1], wait_projection=wait_projection)
            yield batch


def _sse(
    gateway: Gateway, batches: AsyncIterator[list[ResponseStreamed]], *, deadline_s: float
) -> sse.EventStream:
    chunks = _chunks(batches, deadline_s=deadline_s)
    return sse.EventStream(chunks, keepalive_s=gateway.settings.stream_keepalive_s)


async def _chunks(
    batches: AsyncIterator[list[ResponseStreamed]], *, deadline_s: float
) -> AsyncIterator[bytes]:
    """The frames of the events one message carried, as one write."""
    last: int | None = None
    try:
        async for batch in batches:
            last = batch[-1].sequence_number
            yield b"".join(sse.frame(event.payload) for event in batch)
    except (ResponseTimedOut, GatewayError) as failure:
        error = _timed_out(deadline_s) if isinstance(failure, ResponseTimedOut) else failure
        yield sse.frame(
            {
                "type": "error",
                "code": error.code,
                "message": error.message,
                "param": None,
                "sequence_number": sequence.next_after(last),
            }
        )


async def _await_projection(
    gateway: Gateway, watch: ResponseWatch, response_id: str, statuses: Collection[str]
) -> bool:
    wait_s = gateway.settings.projection_wait_s
    if await watch.projected(statuses=statuses, timeout_s=wait_s):
        return True
    log.warning("store did not project %s within %.1fs", response_id, wait_s)
    return False


def _api_deadline(gateway: Gateway) -> float:
    """The worker ends a response that outlives the request deadline with response.failed; the api
    waits a little longer, so clients get that failed response rather than a bare timeout."""
    return gateway.settings.request_deadline_s + 5.0


def _timed_out(deadline_s: float) -> GatewayError:
    return GatewayError(f"The response did not finish within {deadline_s:.0f}s.", code="timeout")

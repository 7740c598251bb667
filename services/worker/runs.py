"""One chat call, start to end: route it, stream it from the backend, and turn every chunk into
Responses events in-process (see docs/architecture.md: no NATS hop per token)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from services.translator import stream
from services.worker import backends, routing
from shared.config import GatewayConfig
from shared.errors import GatewayError
from shared.events import ChatCallRequested, ResponseStreamed

Publish = Callable[[ResponseStreamed], Awaitable[asyncio.Future[Any]]]


async def run_chat_call(
    call: ChatCallRequested, *, config: GatewayConfig, client: httpx.AsyncClient, publish: Publish
) -> None:
    """Emit every event of the response; returns once JetStream has acknowledged all of them."""
    acks: list[asyncio.Future[Any]] = []

    async def emit(payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            event = ResponseStreamed.of(payload, response_id=call.response_id, tenant=call.tenant)
            acks.append(await publish(event))

    state, opening = stream.start(call.response)
    await emit(opening)
    try:
        deployment = routing.choose_deployment(config, call.model)
        body = routing.body_for(call.chat, deployment)
        async for chunk in backends.stream_chat(client, deployment, body):
            await emit(stream.on_chunk(state, chunk))
        ending = stream.finish(state)
    except GatewayError as error:
        ending = stream.fail(state, code=error.code or "server_error", message=error.message)
    await emit(ending)
    await asyncio.gather(*acks)

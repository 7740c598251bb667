"""The worker's subscription: chat calls from the log, run concurrently, acked when done."""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import httpx
from faststream import AckPolicy
from faststream.nats import NatsBroker, NatsMessage, PullSub
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from services.worker.runs import run_chat_call
from shared import eventlog, subjects
from shared.bus import LOG
from shared.config import GatewayConfig
from shared.events import ChatCallRequested

ACK_WAIT_S = 30.0
_PROGRESS_EVERY_S = 10.0


def register(
    broker: NatsBroker,
    *,
    js: JetStreamContext,
    config: GatewayConfig,
    client: httpx.AsyncClient,
    concurrency: int,
) -> None:
    @broker.subscriber(
        subjects.ALL_CHAT_CALLS,
        stream=LOG,
        durable="worker",
        config=ConsumerConfig(ack_wait=ACK_WAIT_S, max_ack_pending=concurrency * 4),
        pull_sub=PullSub(batch_size=16, timeout=5.0),
        max_workers=concurrency,
        # A worker that dies or errors mid-call leaves the message unacked: another replica gets it.
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_chat_call(call: ChatCallRequested, msg: NatsMessage) -> None:
        async with _kept_in_progress(msg):
            await run_chat_call(call, config=config, client=client, publish=publish)

    publish = functools.partial(eventlog.append_pipelined, js)


@contextlib.asynccontextmanager
async def _kept_in_progress(msg: NatsMessage) -> AsyncIterator[None]:
    """Tell JetStream the call is alive while a long generation outlasts the ack wait."""

    async def touch() -> None:
        while True:
            await asyncio.sleep(_PROGRESS_EVERY_S)
            await msg.in_progress()

    task = asyncio.create_task(touch())
    try:
        yield
    finally:
        task.cancel()

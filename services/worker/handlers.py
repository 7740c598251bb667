"""The worker's subscriptions: chat calls from the log, run concurrently and acked when done; and
cancel requests, which every replica hears and the one running that response obeys."""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import httpx
from faststream import AckPolicy
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from services.worker.deployments import Pool
from services.worker.runs import Run
from shared import eventlog, subjects
from shared.bus import LOG
from shared.config import Settings
from shared.events import ChatCallRequested, ResponseCancelRequested


def register(
    broker: NatsBroker,
    *,
    js: JetStreamContext,
    settings: Settings,
    pool: Pool,
    client: httpx.AsyncClient,
    concurrency: int,
    ack_wait_s: float,
) -> None:
    """``ack_wait_s`` bounds how long a call whose worker died waits before another replica takes it."""
    runs: dict[str, Run] = {}
    publish = functools.partial(eventlog.append_pipelined, js)

    @broker.subscriber(
        subjects.ALL_CHAT_CALLS,
        stream=LOG,
        durable="worker",
        config=ConsumerConfig(ack_wait=ack_wait_s, max_ack_pending=concurrency * 4),
        queue="worker",
        max_workers=concurrency,
        # A worker that dies or errors mid-call leaves the message unacked: another replica gets it.
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_chat_call(call: ChatCallRequested, msg: NatsMessage) -> None:
        run = runs[call.response_id] = Run(call)
        try:
            if msg.raw_message.metadata.num_delivered > 1 and (
                last := await eventlog.last_response_event(js, call.response_id)
            ):
                if not last.is_terminal:
                    await run.abandon(after=last.sequence_number, publish=publish)
                return
            # Registered first, checked second: a cancel that came while the call was queued is in
            # the log, and one that comes from now on reaches `runs`.
            if call.background and await _cancel_logged(js, call.response_id):
                run.cancel()
            async with _kept_in_progress(msg, every_s=ack_wait_s / 3):
                await run.execute(
                    pool=pool, client=client, publish=publish, deadline_s=settings.request_deadline_s
                )
        finally:
            runs.pop(call.response_id, None)

    # A core subscription on a stream subject: it must not answer, or its empty reply would race the
    # stream's PubAck to the api that published the cancel.
    @broker.subscriber(subjects.ALL_CANCELS, no_reply=True)
    async def on_cancel(request: ResponseCancelRequested) -> None:
        if run := runs.get(request.response_id):
            run.cancel()


async def _cancel_logged(js: JetStreamContext, response_id: str) -> bool:
    try:
        await js.get_last_msg(subjects.STREAM, subjects.cancel_requested(response_id))
    except NotFoundError:
        return False
    return True


@contextlib.asynccontextmanager
async def _kept_in_progress(msg: NatsMessage, *, every_s: float) -> AsyncIterator[None]:
    """Tell JetStream the call is alive while a long generation outlasts the ack wait."""

    async def touch() -> None:
        while True:
            await asyncio.sleep(every_s)
            await msg.in_progress()

    task = asyncio.create_task(touch())
    try:
        yield
    finally:
        task.cancel()

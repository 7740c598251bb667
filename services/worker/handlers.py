"""The worker's subscriptions: chat calls from the log, run concurrently and acked when done; and
cancel requests, which every replica hears and the one running that response obeys.

A call is kept in progress (heartbeats) while it runs, so a short ack wait lets another replica take
the call of a worker that died within seconds. The replica that gets a redelivered call reads the log
first: a response that ended is left alone; one whose output had not begun is run again (the client
has seen nothing but its opening); one whose output had begun ends ``failed``, since running it again
would splice a second answer onto the first. Every failure is settled by ``shared.consumers``: a
transient one is redelivered with a growing delay, up to ``max_deliver``; after that, or for any
other failure, or when every delivery timed out, the response ends ``failed`` and the call goes to
the dead-letter stream."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RawStreamMsg

from services.worker.deployments import Pool
from services.worker.ledger import Superseded
from services.worker.logged import JetStreamLog
from services.worker.oneshots import OneShots
from services.worker.runs import Run
from shared import backend_calls, bus, consumers, deadletter, eventlog
from shared.backend_calls import Completed, CompletionRequested, TokenCountRequested, TokensCounted
from shared.config import Settings
from shared.events import ChatCallRequested, ResponseCancelRequested

log = logging.getLogger(__name__)

DURABLE = "worker"
# What the client reads when a worker stopped half-way, and when a call failed for good.
STOPPED = "The worker generating this response stopped before it finished."
GAVE_UP = "The gateway could not run this response."
# The longest pause between two heartbeats of a running call, whatever the ack wait.
_MAX_HEARTBEAT_S = 1.5


async def register(
    broker: NatsBroker,
    *,
    js: JetStreamContext,
    settings: Settings,
    pool: Pool,
    client: httpx.AsyncClient,
    concurrency: int,
    ack_wait_s: float,
) -> None:
    """``ack_wait_s`` bounds how long a call whose worker died waits before another replica takes it.
    Call before the broker starts: an existing durable consumer is brought up to this configuration
    (FastStream binds to an existing one as it is), and calls whose deliveries all timed out are
    watched for, to end their responses failed."""
    config = ConsumerConfig(
        ack_wait=ack_wait_s,
        max_deliver=consumers.REDELIVERY.max_deliver,
        max_ack_pending=concurrency * 4,
    )
    await consumers.update_durable(js, DURABLE, config)
    calls = ChatCalls(
        log=JetStreamLog(js),
        js=js,
        settings=settings,
        pool=pool,
        client=client,
        heartbeat_s=min(ack_wait_s / 3, _MAX_HEARTBEAT_S),
    )

    oneshots = OneShots(pool, client)

    async def on_cancel(request: ResponseCancelRequested) -> None:
        calls.cancel(request.response_id)

    async def on_complete(msg: NatsMessage) -> Completed:
        return await oneshots.complete(backend_calls.decode(msg.body, msg.headers, CompletionRequested))

    async def on_count(msg: NatsMessage) -> TokensCounted:
        return await oneshots.count(backend_calls.decode(msg.body, msg.headers, TokenCountRequested))

    handlers = {"chat_call": calls.handle, "cancel": on_cancel, "complete": on_complete, "count": on_count}
    bus.subscribe(broker, DURABLE, handlers, concurrency=concurrency, durable=config)
    await deadletter.watch_exhausted(broker.connection, js, consumer=DURABLE, on_exhausted=calls.exhausted)


class ChatCalls:
    """The calls this replica is running, by response id, and how it runs one."""

    def __init__(
        self,
        *,
        log: JetStreamLog,
        js: JetStreamContext,
        settings: Settings,
        pool: Pool,
        client: httpx.AsyncClient,
        heartbeat_s: float,
    ) -> None:
        self._log = log
        self._js = js
        self._settings = settings
        self._pool = pool
        self._client = client
        self._heartbeat_s = heartbeat_s
        self._runs: dict[str, Run] = {}

    async def exhausted(self, raw: RawStreamMsg, reason: str) -> None:
        """A call whose every delivery timed out (its workers died or stalled): end it failed."""
        await Run(await self._call(raw)).abandon(log=self._log, message=GAVE_UP)

    def cancel(self, response_id: str) -> None:
        if run := self._runs.get(response_id):
            run.cancel()

    async def handle(self, msg: NatsMessage) -> None:
        run: Run | None = None

        async def work() -> None:
            nonlocal run
            run = Run(await self._call(msg.raw_message))
            async with _kept_in_progress(msg, every_s=self._heartbeat_s):
                await self._serve(run, delivered=msg.raw_message.metadata.num_delivered)

        async def end_failed(reason: str) -> None:
            if run is not None:
                await run.abandon(log=self._log, message=GAVE_UP)

        await consumers.settle(msg, work, js=self._js, consumer=DURABLE, on_failure=end_failed)

    async def _call(self, raw: object) -> ChatCallRequested:
        call = await eventlog.decode(self._js, raw)
        if not isinstance(call, ChatCallRequested):
            raise TypeError(f"a {type(call).__name__} on a chat call subject")
        return call

    async def _serve(self, run: Run, *, delivered: int) -> None:
        response_id = run.call.response_id
        after = None
        if delivered > 1:
            position = await self._log.position(response_id)
            if position.ended:
                return
            if position.output_begun:
                await run.abandon(log=self._log, message=STOPPED)
                return
            after = position.last
        self._runs[response_id] = run
        try:
            # Registered first, checked second: a cancel that came while the call was queued is in
            # the log, and one that comes from now on reaches `_runs`.
            if run.call.background and await self._log.cancel_requested(response_id):
                run.cancel()
            await run.execute(
                pool=self._pool,
                client=self._client,
                log=self._log,
                deadline_s=self._settings.request_deadline_s,
                after=after,
            )
        except Superseded as error:
            log.warning("%s: another writer took the response over: %s", response_id, error)
            await run.abandon(log=self._log, message=STOPPED)
        finally:
            if self._runs.get(response_id) is run:
                del self._runs[response_id]


@contextlib.asynccontextmanager
async def _kept_in_progress(msg: NatsMessage, *, every_s: float) -> AsyncIterator[None]:
    """Tell JetStream the call is alive, so only a dead worker's call outlives the ack wait. A
    heartbeat lost while NATS reconnects is no reason to stop sending the next ones."""

    async def touch() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await msg.in_progress()
            except Exception as error:
                log.debug("heartbeat of %s not sent: %r", msg.raw_message.subject, error)

    task = asyncio.create_task(touch())
    try:
        yield
    finally:
        task.cancel()

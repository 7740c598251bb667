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

import logging
import time
from collections.abc import Mapping

from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RawStreamMsg

from services.worker import toolsteps
from services.worker.builtin.base import Executor
from services.worker.failover import Backends
from services.worker.ledger import Superseded
from services.worker.logged import JetStreamLog, Position
from services.worker.oneshots import OneShots
from services.worker.runs import Run
from services.worker.toolsteps import ToolStep
from shared import backend_calls, bus, consumers, deadletter, eventlog, reasoning_blobs
from shared.backend_calls import Completed, CompletionRequested, TokenCountRequested, TokensCounted
from shared.config import Settings
from shared.events import ChatCallRequested, ToolCallsRequested
from shared.inhand import InHand
from shared.sealing import MasterKeys

log = logging.getLogger(__name__)

DURABLE = "worker"
# What the client reads when a worker stopped half-way, and when a call failed for good.
STOPPED = "The worker generating this response stopped before it finished."
GAVE_UP = "The gateway could not run this response."
# The longest pause between two heartbeats of a running call, whatever the ack wait.
_MAX_HEARTBEAT_S = 1.5
# The longest wait for a delivery of a call before JetStream delivers it again.
_LONGEST_ACK_WAIT_S = 60.0


async def register(
    broker: NatsBroker,
    *,
    js: JetStreamContext,
    settings: Settings,
    backends: Backends,
    master: MasterKeys,
    executors: Mapping[str, Executor] | None = None,
    max_steps: int = 8,
) -> InHand:
    """``settings.worker_ack_wait_s`` bounds how long a call whose worker died waits before another
    replica takes it. Call before the broker starts: an existing durable consumer is brought up to this
    configuration (FastStream binds to an existing one as it is), and calls whose deliveries all timed
    out are watched for, to end their responses failed. The calls in hand are returned for their
    ``drain`` at shutdown."""
    concurrency, ack_wait_s = settings.worker_concurrency, settings.worker_ack_wait_s
    config = ConsumerConfig(
        ack_wait=ack_wait_s,
        backoff=ack_waits(ack_wait_s, consumers.REDELIVERY.max_deliver),
        max_deliver=consumers.REDELIVERY.max_deliver,
        # No more calls in this process than it runs at once: one waiting in the client for a free
        # slot would have its ack wait running and no heartbeat, and be delivered again, and again.
        max_ack_pending=concurrency,
    )
    await consumers.update_durable(js, DURABLE, config)
    calls = ChatCalls(
        log=JetStreamLog(js),
        js=js,
        settings=settings,
        backends=backends,
        master=master,
        heartbeat_s=min(ack_wait_s / 3, _MAX_HEARTBEAT_S),
        executors=executors or {},
        max_steps=max_steps,
    )

    oneshots = OneShots(backends)

    async def on_cancel(msg: NatsMessage) -> None:
        calls.cancel((await eventlog.decode(js, msg)).response_id)

    async def on_complete(msg: NatsMessage) -> Completed:
        return await oneshots.complete(backend_calls.decode(msg.body, msg.headers, CompletionRequested))

    async def on_count(msg: NatsMessage) -> TokensCounted:
        return await oneshots.count(backend_calls.decode(msg.body, msg.headers, TokenCountRequested))

    handlers = {"chat_call": calls.handle, "cancel": on_cancel, "complete": on_complete, "count": on_count}
    in_hand = bus.subscribe(broker, DURABLE, handlers, concurrency=concurrency, durable=config)
    await deadletter.watch_exhausted(broker.connection, js, consumer=DURABLE, on_exhausted=calls.exhausted)
    return in_hand


def ack_waits(first_s: float, max_deliver: int) -> list[float]:
    """How long JetStream waits for each delivery of a call before it delivers it again (the
    consumer's ``backoff``). The first wait is short, so a dead worker's call moves on within seconds.
    Later ones grow: in a burst (1,000 streams opened at once) calls wait in a busy worker's client
    longer than the first, with no heartbeat until their handler begins; a fixed wait would deliver
    each again every few seconds, adding to the load that delays them, until its deliveries ran out
    and the response failed."""
    return [min(first_s * 3**n, _LONGEST_ACK_WAIT_S) for n in range(max_deliver - 1)]


class ChatCalls:
    """The calls this replica is running, by response id, and how it runs one (``handle``: in a task
    of its own, ``shared.inhand``)."""

    def __init__(
        self,
        *,
        log: JetStreamLog,
        js: JetStreamContext,
        settings: Settings,
        backends: Backends,
        master: MasterKeys,
        heartbeat_s: float,
        executors: Mapping[str, Executor],
        max_steps: int,
    ) -> None:
        self._executors = executors
        self._max_steps = max_steps
        self._log = log
        self._master = master
        self._js = js
        self._settings = settings
        self._backends = backends
        self._heartbeat_s = heartbeat_s
        self._runs: dict[str, Run | ToolStep] = {}

    async def exhausted(self, raw: RawStreamMsg, reason: str) -> None:
        """A call whose every delivery timed out (its workers died or stalled): end it failed."""
        await Run(_chat_call(await self._call(raw))).abandon(log=self._log, message=GAVE_UP)

    def cancel(self, response_id: str) -> None:
        if run := self._runs.get(response_id):
            run.cancel()

    async def handle(self, msg: NatsMessage) -> None:
        run: Run | ToolStep | None = None

        async def work() -> None:
            nonlocal run
            step = await self._call(msg.raw_message)
            run = ToolStep(step) if isinstance(step, ToolCallsRequested) else Run(step)
            await self._serve(run, delivered=msg.raw_message.metadata.num_delivered)

        async def end_failed(reason: str) -> None:
            if run is not None:
                await Run(run.call).abandon(log=self._log, message=GAVE_UP)

        await consumers.settle(
            msg, work, js=self._js, consumer=DURABLE, on_failure=end_failed, heartbeat_s=self._heartbeat_s
        )

    async def _call(self, raw: object) -> ChatCallRequested | ToolCallsRequested:
        call = await eventlog.decode(self._js, raw)
        if not isinstance(call, ChatCallRequested | ToolCallsRequested):
            raise TypeError(f"a {type(call).__name__} on a chat call subject")
        return call

    def _reasoning_sealer(self, call: ChatCallRequested) -> reasoning_blobs.Seal | None:
        return reasoning_blobs.sealer(self._master, call.tenant) if call.encrypted_reasoning else None

    async def _serve(self, run: Run | ToolStep, *, delivered: int) -> None:
        response_id = run.call.response_id
        after = None
        if delivered > 1:
            position = await self._log.position(response_id)
            if position.ended or await self._handed_on(run):
                return
            if isinstance(run, Run) and _output_begun(run.call, position):
                await run.abandon(log=self._log, message=STOPPED)
                return
            # A tool step runs again: the client has seen its items, the model not their results.
            after = position.last
        self._runs[response_id] = run
        try:
            # Registered first, checked second: a cancel that came while the call was queued is in
            # the log, and one that comes from now on reaches `_runs`.
            if run.call.background and await self._log.cancel_requested(response_id):
                run.cancel()
            if isinstance(run, ToolStep):
                await run.execute(
                    executors=self._executors, log=self._log, max_steps=self._max_steps, after=after
                )
            else:
                await run.execute(
                    backends=self._backends,
                    log=self._log,
                    deadline_s=self._loop_deadline_s(run.call),
                    after=after,
                    seal_reasoning=self._reasoning_sealer(run.call),
                )
        except Superseded as error:
            log.warning("%s: another writer took the response over: %s", response_id, error)
            await Run(run.call).abandon(log=self._log, message=STOPPED)
        finally:
            if self._runs.get(response_id) is run:
                del self._runs[response_id]

    async def _handed_on(self, run: Run | ToolStep) -> bool:
        """Whether the step after ``run``'s is in the log: a worker did its part and died unacked."""
        latest = await self._log.latest_step(run.call.response_id)
        step = toolsteps.step_of(latest) if latest is not None else None
        mine = run.step if isinstance(run, ToolStep) else run.call.loop.step
        return step is not None and step > mine

    def _loop_deadline_s(self, call: ChatCallRequested) -> float:
        """What is left of the response's deadline: a tool loop's later steps share the first's."""
        if call.loop.step == 0:
            return self._settings.request_deadline_s
        elapsed = time.time() - call.response.get("created_at", time.time())
        return max(self._settings.request_deadline_s - elapsed, 1.0)


def _output_begun(call: ChatCallRequested, position: Position) -> bool:
    """Whether a chat call's output had begun: past the opening events for a first step, any event of
    its own for a later one (whose numbers start at ``sequence_start``)."""
    if call.loop.step == 0:
        return position.output_begun
    return position.last is not None and position.last >= call.sequence_start


def _chat_call(step: ChatCallRequested | ToolCallsRequested) -> ChatCallRequested:
    return step.next_call if isinstance(step, ToolCallsRequested) else step

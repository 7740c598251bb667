"""One chat call, start to end: route it, stream it from the backend (a foreground non-stream answer
is read whole, as the chunks that would have streamed it), and turn every chunk into Responses events
in-process (see docs/architecture.md: no NATS hop per token).

The backend is read by its own task that only queues chunks; this loop alone turns them into events.
A cancel or the deadline is just another item in that queue, so a run stops between two events,
never inside one, and the sequence numbers it published stay dense."""

import asyncio
import contextlib
import enum
import logging
from typing import Any, Protocol

from services.worker import toolsteps
from services.worker.failover import Backends
from services.worker.ledger import PATIENCE, Ledger, Patience, Superseded
from services.worker.logged import Position
from services.worker.outbox import Outbox
from shared import consumers, reasoning_blobs
from shared.domain import sequence, stream, usage
from shared.errors import BackendFailed, GatewayError
from shared.events import TERMINAL_TYPES, ChatCallRequested, ResponseStreamed

_logger = logging.getLogger(__name__)
# Writers of one response racing to end it converge within a few reads of the log.
_ABANDON_TRIES = 3


class Log(toolsteps.Log, Protocol):
    """The event log as a run uses it (``logged.JetStreamLog``)."""

    async def position(self, response_id: str) -> Position: ...


class Stop(enum.Enum):
    END = "end"
    CANCELLED = "cancelled"
    DEADLINE = "deadline"


# What the reader task hands the run: a backend chunk, the error that ended the reading, or a stop.
Received = dict[str, Any] | GatewayError | Stop


class Inbox:
    """What the reader, a cancel and the deadline hand a run, in order, for the run alone to take: an
    ``asyncio.Queue`` holds four deques (some 3 KB, for every run in hand) to serve any number of
    takers and a bound, neither of which a run has."""

    def __init__(self) -> None:
        self._items: list[Received] = []
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Received) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def taken(self) -> list[Received]:
        """Everything put by now, waiting for the first if there is none."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items, self._items = self._items, []
        return items


class Run:
    """A chat call in flight on this worker; ``cancel`` may be called from any handler."""

    def __init__(self, call: ChatCallRequested) -> None:
        self.call = call
        self._items = Inbox()
        # Stamped on the terminal event: the deployment that served (or was tried last), its cost.
        self._served_by: str | None = None
        self._cost_usd: float | None = None

    def cancel(self) -> None:
        self._items.put(Stop.CANCELLED)

    async def execute(
        self,
        *,
        backends: Backends,
        log: Log,
        deadline_s: float,
        after: int | None = None,
        patience: Patience = PATIENCE,
        seal_reasoning: reasoning_blobs.Seal | None = None,
    ) -> None:
        """Emit every event of the response numbered after ``after`` (those up to it are logged
        already: a call run again); returns once JetStream has stored all of them. Raises
        ``Superseded`` if another writer logged one of its sequence numbers first. ``seal_reasoning``
        fills reasoning items' ``encrypted_content``, where the request asked for it."""
        sent = Outbox(self.call, Ledger(log, patience), after=after, wrap=self._logged)
        emit = sent.emit
        state, opening = toolsteps.loop_state(
            self.call, opens=self.call.loop.step == 0, seal_reasoning=seal_reasoning
        )
        # The backend is called while the opening events are logged, for the time to first token;
        # unless the run was cancelled before it began (a cancel logged while it was queued).
        reader = asyncio.create_task(self._read(backends)) if self._items.empty() else None
        deadline = asyncio.get_running_loop().call_later(deadline_s, self._items.put, Stop.DEADLINE)
        try:
            await emit(opening)
            while True:
                chunks, end = await self._taken()
                # Mapped and emitted together: the outbox logs a run of deltas as one message.
                await emit([payload for chunk in chunks for payload in stream.on_chunk(state, chunk)])
                if end is not None:
                    break
        finally:
            deadline.cancel()
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        if end is Stop.END and toolsteps.wants_tools(state):
            # The model called built-in tools: the loop's next step runs them, from a durable message.
            await emit(stream.pause(state))
            await sent.confirm()
            await log.hand_off(toolsteps.tool_calls(self.call, state, self._cost_usd))
            return
        await emit(_ending(state, end, deadline_s), _http_error(end))
        await sent.confirm()

    async def abandon(self, *, log: Log, message: str, patience: Patience = PATIENCE) -> None:
        """End the response ``failed`` with ``message``, numbered on from its last logged event, unless
        it has ended already: a response a worker left half-way (running it again would splice a
        second generation's deltas onto the first's), or one whose call failed for good."""
        for _ in range(_ABANDON_TRIES):
            position = await log.position(self.call.response_id)
            if position.ended:
                return
            number = sequence.next_after(position.last, first=self.call.sequence_start)
            state = stream.resume(self.call.response, sequence_start=number)
            sent = Ledger(log, patience)
            try:
                for payload in stream.fail(state, code="server_error", message=message):
                    await sent.append(self._logged(payload))
                await sent.confirm()
            except Superseded:
                continue  # another writer logged that sequence number meanwhile: look again
            return
        raise consumers.Transient(f"{self.call.response_id}: its log kept moving while it was ended")

    async def _taken(self) -> tuple[list[dict[str, Any]], Received | None]:
        """The chunks queued by now (waiting for one if there is none), and what ends the reading if
        it came right behind them. A backend faster than this run leaves several at once."""
        chunks: list[dict[str, Any]] = []
        for item in await self._items.taken():
            if not isinstance(item, dict):
                return chunks, item
            chunks.append(item)
        return chunks, None

    def _logged(self, payload: dict[str, Any], http_error: dict[str, Any] | None = None) -> ResponseStreamed:
        terminal = payload["type"] in TERMINAL_TYPES
        cost = toolsteps.added(self.call.loop.cost_usd, self._cost_usd)  # earlier steps of its loop too
        served = {"served_by": self._served_by, "cost_usd": cost, "key_id": self.call.key_id}
        served = served if terminal else {}
        call = self.call
        return ResponseStreamed.of(
            payload, response_id=call.response_id, tenant=call.tenant, http_error=http_error, **served
        )

    async def _read(self, backends: Backends) -> None:
        """Queue the chunks of the deployment that answers (``failover.Attempt``); once a chunk is
        queued the answer is that deployment's, and its failure ends the response failed."""
        call = self.call
        attempt = backends.attempt(
            model=call.model,
            chat=call.chat,
            affinity=call.affinity,
            truncate=call.response.get("truncation") == "auto",
            vendor_fields=call.vendor_fields,
            # Nobody watches a foreground non-stream response's tokens (``Outbox``): read its answer whole.
            stream=call.stream or call.background,
        )
        try:
            try:
                async for chunk in attempt.chunks():
                    self._items.put(chunk)
            finally:
                self._served_by = attempt.deployment.id if attempt.deployment else None
            self._cost_usd = usage.cost_usd(attempt.deployment, attempt.usage)
            self._items.put(Stop.END)
        except GatewayError as error:
            self._items.put(error)
        except Exception as error:  # a backend answering garbage, or a bug: the run must not wait for it
            _logger.exception("%s: reading the backend failed", call.response_id)
            what = type(error).__name__
            self._items.put(BackendFailed(f"The backend's answer could not be read ({what})."))


def _ending(state: stream.StreamState, item: Received, deadline_s: float) -> list[dict[str, Any]]:
    match item:
        case Stop.END:
            return stream.finish(state)
        case Stop.CANCELLED:
            return stream.cancel(state)
        case Stop.DEADLINE:
            return stream.fail(
                state, code="server_error", message=f"No answer within the {deadline_s:.0f}s deadline."
            )
        case GatewayError():
            return stream.fail(state, code=item.failure_code, message=item.message)
    raise AssertionError(item)


def _http_error(item: Received) -> dict[str, Any] | None:
    """What a non-stream request answers instead of the failed Response when the backend refused it
    as the client's error (a context-length 400): the HTTP status and OpenAI's error object."""
    if isinstance(item, GatewayError) and 400 <= item.status < 500:
        return item.http_error()
    return None

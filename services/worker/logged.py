"""The worker's view of the event log: appending a response's events, and reading where a response
stands (what a redelivered call needs to decide between running, ending and leaving it)."""

import asyncio
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import PubAck, RawStreamMsg
from nats.js.errors import NotFoundError

from shared import eventlog, subjects
from shared.events import Event, ResponseRequested, ResponseStreamed, StreamMessage, client_events

# What a response logs before its answer starts: running it again from here shows the client nothing
# twice, since its output has not begun.
OPENING_TYPES = frozenset({"response.queued", "response.created", "response.in_progress"})
# More state events than one response can have, even with writers racing: a bound on the lookups.
_MOST_STATES = 32


@dataclass(frozen=True)
class Position:
    """How far one response's log goes: its highest sequence number and that event's type (None when
    nothing is logged), and whether its state has ended (a terminal event is logged)."""

    last: int | None = None
    last_type: str | None = None
    ended: bool = False

    @property
    def output_begun(self) -> bool:
        return self.last_type is not None and self.last_type not in OPENING_TYPES


class JetStreamLog:
    """``ledger.Log`` and the reads a chat call needs, on the stream ``RESPONSES``. Every call is
    bounded by the JetStream context's timeout."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def append(self, event: StreamMessage) -> asyncio.Future[PubAck]:
        return await eventlog.append_pipelined(self._js, event)

    async def stored(self, stream_sequence: int) -> Event:
        return await eventlog.decode(self._js, await self._js.get_msg(subjects.STREAM, stream_sequence))

    async def position(self, response_id: str) -> Position:
        """Ended means any terminal event on the state subject, not the newest one: a writer that lost
        a race may have left events after another's terminal one (its in_progress, its deltas), and
        the response has ended all the same."""
        state_subject, delta_subject = subjects.response_event_subjects(response_id)
        states = await self._every(state_subject)
        delta = await self._last(delta_subject)
        events = [*states, *([delta] if delta else [])]
        if not events:
            return Position()
        newest = max(events, key=lambda e: e.sequence_number)
        ended = any(e.is_terminal for e in states)
        return Position(last=newest.sequence_number, last_type=newest.type, ended=ended)

    async def hand_off(self, event: Event) -> None:
        """Append the next step of a response's tool loop (a durable message: it survives this worker)."""
        await eventlog.append(self._js, event)

    async def latest_step(self, response_id: str) -> Event | None:
        """The newest step message of a response (chat call or tool step), if any."""
        try:
            raw = await self._js.get_last_msg(subjects.STREAM, subjects.chat_call(response_id))
        except NotFoundError:
            return None
        return await eventlog.decode(self._js, raw)

    async def request(self, response_id: str) -> ResponseRequested | None:
        """The response's request as the client sent it, secrets included (the log holds it sealed):
        what a built-in tool step needs of it that no loop event carries (MCP ``headers``)."""
        try:
            raw = await self._js.get_last_msg(subjects.STREAM, subjects.requested(response_id))
        except NotFoundError:
            return None
        event = await eventlog.decode(self._js, raw)
        return event if isinstance(event, ResponseRequested) else None

    async def cancel_requested(self, response_id: str) -> bool:
        try:
            await self._js.get_last_msg(subjects.STREAM, subjects.cancel_requested(response_id))
        except NotFoundError:
            return False
        return True

    async def _every(self, subject: str) -> list[ResponseStreamed]:
        """The events on ``subject``, oldest first: a response's state subject holds a handful (queued,
        created, in_progress, its end), so a few lookups by subject."""
        found: list[ResponseStreamed] = []
        after = 0
        for _ in range(_MOST_STATES):
            try:
                raw = await self._js.get_msg(subjects.STREAM, seq=after + 1, subject=subject, next=True)
            except NotFoundError:
                break
            found += await self._decoded(raw)
            after = raw.seq
        return found

    async def _last(self, subject: str) -> ResponseStreamed | None:
        try:
            raw = await self._js.get_last_msg(subjects.STREAM, subject)
        except NotFoundError:
            return None
        return (await self._decoded(raw))[-1]

    async def _decoded(self, raw: RawStreamMsg) -> list[ResponseStreamed]:
        """The events ``raw`` carries: one, or a run of deltas logged together."""
        return client_events(await eventlog.decode(self._js, raw))

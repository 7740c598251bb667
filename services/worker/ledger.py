"""The events one run appends to the log, each held until JetStream has acknowledged it.

Appends are pipelined (the token path sends every event without waiting for its PubAck) and their acks
are checked as they come. No ack is awaited without a bound: one that has not come within
``ack_timeout_s`` (the node the worker talks to died with the message, the stream's leader is being
elected) gets its event sent again under the same id, which JetStream's duplicate window turns into a
no-op if the first copy was stored after all, a bounded number of times; then ``EventsNotLogged``.
While an ack is overdue no further event is sent, so a run waits for the log rather than racing ahead.

A terminal event is sent only once every event before it is stored, so it is the response's last;
and a run's first event is stored before its second is sent, so a run that finds its first number
taken (the sweeper, or a worker that got the call first, ended the response) writes nothing more.

Event ids derive from ``(response_id, sequence_number)``, so two writers of one response (a worker cut
off from NATS long enough for its call to be redelivered, and the worker that got it) collide on the
same ids. A first copy that JetStream answers as a duplicate means another writer already holds that
sequence number: ``Superseded``, and this run must write nothing more of its own. Since both sides
confirm all their events before a terminal one, at most one terminal event reaches the log.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from nats.js.api import PubAck

from shared import consumers
from shared.events import Event, StreamMessage

_logger = logging.getLogger(__name__)


class Log(Protocol):
    """What a ledger needs of the event log."""

    async def append(self, event: StreamMessage) -> asyncio.Future[PubAck]:
        """Send ``event``; the future resolves to its PubAck."""
        ...

    async def stored(self, stream_sequence: int) -> Event:
        """The event the stream holds at ``stream_sequence``."""
        ...


@dataclass(frozen=True)
class Patience:
    """How long an append may stay unacknowledged: ``ack_timeout_s`` per try, then up to
    ``republishes`` re-sends, the n-th after ``backoff_s * 2**(n-1)`` capped at ``max_backoff_s``.
    The defaults ride out a stream leader election (a few seconds) with room to spare."""

    ack_timeout_s: float = 2.0
    republishes: int = 8
    backoff_s: float = 0.25
    max_backoff_s: float = 2.0

    def backoff(self, republish: int) -> float:
        return min(self.backoff_s * 2 ** (republish - 1), self.max_backoff_s)


PATIENCE = Patience()


class EventsNotLogged(consumers.Transient):
    """The log did not acknowledge some events of a run within its patience: the call is tried again
    later, and its next delivery finds in the log how far it got."""


class Superseded(Exception):
    """Another writer already logged an event at a sequence number this run meant to write."""

    def __init__(self, event: StreamMessage) -> None:
        number = event.sequence_number
        super().__init__(f"{event.response_id}: sequence number {number} was logged by another writer")


@dataclass
class _Sent:
    event: StreamMessage
    ack: asyncio.Future[PubAck]
    at: float  # when it was sent (monotonic)
    again: bool  # a re-send: a duplicate ack may well be this run's own first copy


class Ledger:
    def __init__(
        self, log: Log, patience: Patience = PATIENCE, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = log
        self._patience = patience
        self._clock = clock
        self._unacked: deque[_Sent] = deque()
        self._appended = 0

    async def append(self, event: StreamMessage) -> None:
        """Send ``event`` without waiting for its ack, unless the log is behind (see the module)."""
        with self._dropped_on_error():
            if event.is_terminal or self._appended == 1:
                await self._confirm()
            self._appended += 1
            self._unacked.append(await self._send(event, again=False))
            await self._take_acked()
            oldest = self._unacked[0] if self._unacked else None
            if oldest and (oldest.ack.done() or self._clock() - oldest.at > self._patience.ack_timeout_s):
                await self._confirm()  # an ack failed or is overdue

    async def confirm(self) -> None:
        """Return once every event sent is stored; re-send those whose ack does not come."""
        with self._dropped_on_error():
            await self._confirm()

    @contextlib.contextmanager
    def _dropped_on_error(self) -> Iterator[None]:
        """A ledger left by an error (``Superseded``, ``EventsNotLogged``, a cancelled run) gives up its
        pending acks: the NATS client holds a slot for each until it resolves, and one whose reply
        never comes would hold it for good."""
        try:
            yield
        except BaseException:
            for sent in self._unacked:
                sent.ack.cancel()
            self._unacked.clear()
            raise

    async def _confirm(self) -> None:
        # Re-sends go one at a time until one is stored as this run's: should another writer have
        # taken a number meanwhile, the first re-send finds it (``Superseded``) before any later event
        # of this run lands after that writer's ending.
        held: list[StreamMessage] = []
        republish = 0
        while self._unacked or held:
            if not self._unacked:
                for event in held:
                    self._unacked.append(await self._send(event, again=True))
                held = []
            await asyncio.wait([s.ack for s in self._unacked], timeout=self._patience.ack_timeout_s)
            missing = []
            for sent in self._unacked:
                if _acked(sent):
                    await self._check(sent)
                else:
                    sent.ack.cancel()  # gives the NATS client its slot back; a late ack is ignored
                    missing.append(sent.event)
            self._unacked.clear()
            if not missing:
                continue
            republish += 1
            if republish > self._patience.republishes:
                raise EventsNotLogged(
                    f"{missing[0].response_id}: {len(missing) + len(held)} events unacknowledged after "
                    f"{self._patience.republishes} re-sends"
                )
            _logger.warning(
                "%s: %d events unacknowledged, sending them again (%d of %d)",
                missing[0].response_id,
                len(missing) + len(held),
                republish,
                self._patience.republishes,
            )
            await asyncio.sleep(self._patience.backoff(republish))
            first, *rest = missing
            held = rest + held
            self._unacked.append(await self._send(first, again=True))

    async def _send(self, event: StreamMessage, *, again: bool) -> _Sent:
        try:
            ack = await self._log.append(event)
        except Exception as error:  # the client could not even send it (reconnecting, buffer full)
            ack = asyncio.get_running_loop().create_future()
            ack.set_exception(error)
        return _Sent(event, ack, self._clock(), again)

    async def _take_acked(self) -> None:
        """Forget the oldest events while they are acknowledged, checking each ack."""
        while self._unacked and _acked(self._unacked[0]):
            await self._check(self._unacked.popleft())

    async def _check(self, sent: _Sent) -> None:
        ack = sent.ack.result()
        if not ack.duplicate:
            return
        if sent.again and await self._log.stored(ack.seq) == sent.event:
            return  # the first copy was stored; only its ack was lost
        raise Superseded(sent.event)


def _acked(sent: _Sent) -> bool:
    ack = sent.ack
    return ack.done() and not ack.cancelled() and ack.exception() is None

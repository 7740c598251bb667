"""A foreground response's request waits for its end, so that the two are written as one insert.

Nobody reads a foreground response's projection while it runs (``projection.written_with_its_end``),
so the store holds its request, unacked, for up to ``HOLD_S``. When the response's end comes in that
time, the document the two make is inserted at once (``Projector.fold_together``): on the embedded
stand-in that costs less than half the CPU of their two guarded upserts (bench/README.md). A request
whose end does not come in time (a long answer, or an end delivered to another replica) is written
alone, as any other event; so is one that finds ``capacity`` requests held already, so that held
requests never take the store's every handler. If the process dies meanwhile, JetStream delivers
the unacked request again.
"""

import asyncio

from shared.domain import projection
from shared.events import Event, ResponseRequested, ResponseStreamed
from shared.readmodel.repository import Projector

# Long enough for a short answer's end, far below the store's ack wait and any response's deadline.
HOLD_S = 2.0


class Pairing:
    """The store's fold, with requests held for their ends; one per process and event loop."""

    def __init__(self, projector: Projector, *, capacity: int, hold_s: float = HOLD_S) -> None:
        self._projector = projector
        self.capacity = capacity
        self._hold_s = hold_s
        # Response id -> its held request, and whether its end wrote it (False: write it alone).
        self._held: dict[str, tuple[ResponseRequested, asyncio.Future[bool]]] = {}

    async def fold(self, event: Event) -> None:
        if isinstance(event, ResponseRequested) and self._holds(event):
            await self._hold(event)
        elif isinstance(event, ResponseStreamed) and event.is_terminal and event.response_id in self._held:
            request, written = self._held.pop(event.response_id)
            try:
                await self._projector.fold_together(request, event)
            except BaseException:
                _resolve(written, False)  # the request is written alone; the end comes again
                raise
            _resolve(written, True)
        else:
            await self._projector.fold(event)

    def _holds(self, request: ResponseRequested) -> bool:
        return (
            projection.written_with_its_end(request)
            and len(self._held) < self.capacity
            and request.response_id not in self._held
        )

    async def _hold(self, request: ResponseRequested) -> None:
        response_id = request.response_id
        loop = asyncio.get_running_loop()
        written = loop.create_future()
        self._held[response_id] = (request, written)
        # A timer rather than a timeout, which would cancel ``written`` while its end may still be
        # writing it. Awaited without a wrapper, the holder runs right after its end has written
        # them, before the connection's flush: the two acknowledgements leave in one write.
        timer = loop.call_later(self._hold_s, self._let_go, response_id, written)
        try:
            together = await written
        finally:
            timer.cancel()
            self._let_go(response_id, written)
        if not together:
            await self._projector.fold(request)

    def _let_go(self, response_id: str, written: "asyncio.Future[bool]") -> None:
        """Unless its end has taken the request, have it written alone."""
        held = self._held.get(response_id)
        if held is not None and held[1] is written:
            del self._held[response_id]
            _resolve(written, False)


def _resolve(written: "asyncio.Future[bool]", together: bool) -> None:
    if not written.done():  # cancelled with its holder (the service stopping): nobody is waiting
        written.set_result(together)

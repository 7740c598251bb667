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
import contextlib

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
                written.set_result(False)  # the request is written alone; the end comes again
                raise
            written.set_result(True)
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
        written = asyncio.get_running_loop().create_future()
        self._held[response_id] = (request, written)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(written), self._hold_s)
        finally:
            held = self._held.get(response_id)
            if held is not None and held[1] is written:  # not taken by its end: written alone below
                del self._held[response_id]
                written.set_result(False)
        if not await written:
            await self._projector.fold(request)

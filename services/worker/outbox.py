"""Where one step of a response (a chat call, a tool step) sends its events: to the ledger, except
those logged already (a step run again after a crash numbers on after ``after``) and, for a foreground
non-stream response, its deltas: nobody can watch them (only background responses can be resumed), so
only its states are logged, a fraction of the messages on the busiest path."""

from collections.abc import Callable
from typing import Any

from services.worker.ledger import Ledger
from shared import subjects
from shared.events import ChatCallRequested, ResponseStreamed

Wrap = Callable[[dict[str, Any], dict[str, Any] | None], ResponseStreamed]


class Outbox:
    def __init__(self, call: ChatCallRequested, ledger: Ledger, *, after: int | None, wrap: Wrap) -> None:
        self._ledger = ledger
        self._after = after
        self._wanted = None if call.stream or call.background else subjects.STATE_EVENT_TYPES
        self._wrap = wrap

    async def emit(self, payloads: list[dict[str, Any]], http_error: dict[str, Any] | None = None) -> None:
        for payload in payloads:
            new = self._after is None or payload["sequence_number"] > self._after
            if new and (self._wanted is None or payload["type"] in self._wanted):
                await self._ledger.append(self._wrap(payload, http_error))

    async def confirm(self) -> None:
        await self._ledger.confirm()

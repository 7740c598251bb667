"""Where one step of a response (a chat call, a tool step) sends its events: to the ledger, except
those logged already (a step run again after a crash numbers on after ``after``) and, for a foreground
non-stream response, all but its end. Nobody can watch the rest: only background responses can be
resumed or cancelled, the store does not project a foreground response's opening states
(``projection._transient``), and its client waits for the end alone. So one message on the busiest
path instead of three plus the deltas; a call redelivered after a crash finds nothing logged, which it
treats as it treats only the opening logged (``logged.Position``): run again."""

from collections.abc import Callable
from typing import Any

from services.worker.ledger import Ledger
from shared.events import TERMINAL_TYPES, ChatCallRequested, ResponseStreamed

Wrap = Callable[[dict[str, Any], dict[str, Any] | None], ResponseStreamed]


class Outbox:
    def __init__(self, call: ChatCallRequested, ledger: Ledger, *, after: int | None, wrap: Wrap) -> None:
        self._ledger = ledger
        self._after = after
        self._wanted = None if call.stream or call.background else TERMINAL_TYPES
        self._wrap = wrap

    async def emit(self, payloads: list[dict[str, Any]], http_error: dict[str, Any] | None = None) -> None:
        for payload in payloads:
            new = self._after is None or payload["sequence_number"] > self._after
            if new and (self._wanted is None or payload["type"] in self._wanted):
                await self._ledger.append(self._wrap(payload, http_error))

    async def confirm(self) -> None:
        await self._ledger.confirm()

"""Where one step of a response (a chat call, a tool step) sends its events: to the ledger, except
those logged already (a step run again after a crash numbers on after ``after``) and, for a foreground
non-stream response, all but its end. Nobody can watch the rest: only background responses can be
resumed or cancelled, the store does not project a foreground response's opening states
(``projection._transient``), and its client waits for the end alone. So one message on the busiest
path instead of three plus the deltas; a call redelivered after a crash finds nothing logged, which it
treats as it treats only the opening logged (``logged.Position``): run again.

Deltas emitted together (what a run had in hand at once) are logged as one message
(``ResponseDeltas``), up to ``MAX_COALESCED``; a state event goes alone, as the store and the
ledger's ordering rules want it. Except a foreground stream's opening states (created, in_progress):
the store does not project them, so they are logged together as one message of deltas, on the
subject the store does not read. One message where there were two, no ack to wait for between them
on the way to the first token, and none for the store to take and drop."""

from collections.abc import Callable
from typing import Any

from services.worker.ledger import Ledger
from services.worker.logged import OPENING_TYPES
from shared import subjects
from shared.events import TERMINAL_TYPES, ChatCallRequested, ResponseDeltas, ResponseStreamed

Wrap = Callable[[dict[str, Any], dict[str, Any] | None], ResponseStreamed]

# Deltas in one message at most: a worker far behind its backend still logs in steps, so the client
# sees its text arrive in pieces rather than all at the end.
MAX_COALESCED = 64


class Outbox:
    def __init__(self, call: ChatCallRequested, ledger: Ledger, *, after: int | None, wrap: Wrap) -> None:
        self._call = call
        self._ledger = ledger
        self._after = after
        self._wanted = None if call.stream or call.background else TERMINAL_TYPES
        self._wrap = wrap

    async def emit(self, payloads: list[dict[str, Any]], http_error: dict[str, Any] | None = None) -> None:
        wanted = [p for p in payloads if self._logs(p)]
        for group in coalesced(wanted, opening_joins=not self._call.background):
            if len(group) == 1:
                await self._ledger.append(self._wrap(group[0], http_error))
            else:
                call = self._call
                await self._ledger.append(
                    ResponseDeltas.of(group, response_id=call.response_id, tenant=call.tenant)
                )

    async def confirm(self) -> None:
        await self._ledger.confirm()

    def _logs(self, payload: dict[str, Any]) -> bool:
        new = self._after is None or payload["sequence_number"] > self._after
        return new and (self._wanted is None or payload["type"] in self._wanted)


def coalesced(payloads: list[dict[str, Any]], *, opening_joins: bool = False) -> list[list[dict[str, Any]]]:
    """``payloads`` in the groups they are logged in: each run of consecutive deltas together, up to
    ``MAX_COALESCED``; the opening states together where ``opening_joins``; every other state event
    alone."""
    groups: list[list[dict[str, Any]]] = []
    for payload in payloads:
        if groups and _joins(groups[-1], payload, opening_joins=opening_joins):
            groups[-1].append(payload)
        else:
            groups.append([payload])
    return groups


def _joins(group: list[dict[str, Any]], payload: dict[str, Any], *, opening_joins: bool) -> bool:
    """A delta joins a group of deltas that has room; an opening state one of opening states."""
    last, kind = group[-1]["type"], payload["type"]
    if opening_joins and last in OPENING_TYPES and kind in OPENING_TYPES:
        return True
    deltas = subjects.is_delta(last) and subjects.is_delta(kind)
    return deltas and len(group) < MAX_COALESCED

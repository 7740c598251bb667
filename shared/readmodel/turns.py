"""Finished turns held in memory for chain loads (``fresh.chain_docs``), and what makes a turn final.

A chain is read whole for every new turn: a hundred documents from MongoDB for the 101st, which on the
embedded stand-in costs 10-15 ms of its CPU (bench/README.md). A finished turn's document never changes;
it only goes, deleted or expired. So the translator keeps the finished turns it has read and asks
MongoDB only for those it does not hold: in a chain, the turn answered last.

Deletions reach every translator replica on core NATS (``resp.*.deleted``) the moment they are logged,
before the store has projected them and the api has answered the DELETE, and evict the turn
(``forget``). A reconnect may have missed some, so the turns held are dropped after one (``epoch``).
Expiry is checked on every hit. An erased project's turns need no eviction: with its documents gone,
the api finds no previous response to continue from.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import bson

from shared.events import TERMINAL_STATUSES

Doc = dict[str, Any]

# What one translator holds at most: a turn is its input items and output, usually a few KB, but a
# request may carry megabytes.
MAX_BYTES = 64 * 1024 * 1024


def settled(doc: Doc | None) -> bool:
    """Whether a projected document is whole and final: finished, and its request folded in too (the
    store folds a response's request and its states concurrently, in either order)."""
    return doc is not None and doc.get("status") in TERMINAL_STATUSES and "input_items" in doc


def expired(doc: Doc) -> bool:
    return _expiry(doc) <= time.time()


def _expiry(doc: Doc) -> float:
    """When ``doc`` expires, in epoch seconds (never: infinity)."""
    at: datetime | None = doc.get("expires_at")
    if at is None:
        return math.inf
    # pymongo reads datetimes naive (in UTC); a fold writes them aware.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


class TurnCache:
    """Settled turns by response id, least recently used dropped first past ``max_bytes``. ``epoch``
    counts the connection's reconnects: when it moves, everything held is dropped."""

    def __init__(self, *, max_bytes: int = MAX_BYTES, epoch: Callable[[], int] = lambda: 0) -> None:
        # Each turn with its size and expiry: read once when kept, as a chain's load checks them all.
        self._turns: OrderedDict[str, tuple[Doc, int, float]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._epoch = epoch
        self._seen_epoch = epoch()

    def take(self, tenant: str, ids: Iterable[str]) -> dict[str, Doc]:
        """The tenant's turns among ``ids`` that are held."""
        if (epoch := self._epoch()) != self._seen_epoch:
            self._turns.clear()
            self._bytes, self._seen_epoch = 0, epoch
        found, now = {}, time.time()
        for response_id in ids:
            held = self._turns.get(response_id)
            if held is None or held[0].get("tenant") != tenant:
                continue
            if held[2] <= now:
                self.forget(response_id)
                continue
            self._turns.move_to_end(response_id)
            found[response_id] = held[0]
        return found

    def keep(self, docs: Iterable[Doc]) -> None:
        for doc in docs:
            if not settled(doc):
                continue
            size = len(bson.encode(doc))
            if size > self._max_bytes:
                continue
            self.forget(doc["_id"])
            self._turns[doc["_id"]] = (doc, size, _expiry(doc))
            self._bytes += size
            while self._bytes > self._max_bytes:
                _, (_, dropped, _) = self._turns.popitem(last=False)
                self._bytes -= dropped

    def size(self, response_id: str) -> int | None:
        """The stored size of a held turn, None for one not held."""
        held = self._turns.get(response_id)
        return None if held is None else held[1]

    def forget(self, response_id: str) -> None:
        if (held := self._turns.pop(response_id, None)) is not None:
            self._bytes -= held[1]

    def __len__(self) -> int:
        return len(self._turns)

"""The chains this translator folded into chat messages, kept so that a chain's next turn folds that
turn alone: a 100-turn chain otherwise folds its whole history again for every turn.

A finished turn never changes; it only goes (deleted or expired), and then the history loaded for the
next turn no longer holds its id. So a kept fold is continued only when its turns' ids are exactly
the loaded history's first ones (``history.fold_turns`` checks), and never shows a turn that is gone.
A fold is kept by its last turn's id; the one it continued is dropped, since a chain moves on, so one
fold is held for each chain. A fold is kept only of turns the ``TurnCache`` holds (finished ones), and
what the folds hold is bounded by those turns' stored size, as the cache measured it.
"""

from collections import OrderedDict
from typing import Any

from shared.domain.history import Folded, fold_turns
from shared.readmodel.turns import TurnCache

Doc = dict[str, Any]

# As ``TurnCache.MAX_BYTES``: the folds hold the same turns once more, as messages.
MAX_BYTES = 64 * 1024 * 1024


class FoldedChains:
    def __init__(self, turns: TurnCache, *, max_bytes: int = MAX_BYTES) -> None:
        self._turns = turns
        # Each fold with the stored size of the turns it holds.
        self._folds: OrderedDict[str, tuple[Folded, int]] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    def fold(self, history: list[Doc], *, replay_reasoning: bool) -> Folded:
        """``history`` folded, continuing the longest kept fold of its first turns."""
        after, size = self._kept_prefix(history, replay_reasoning)
        folded = fold_turns(history, replay_reasoning=replay_reasoning, after=after)
        new = history[len(after.turn_ids) if after is not None else 0 :]
        if new and (added := self._held_bytes(new)) is not None:
            if after is not None:
                self._drop(after.turn_ids[-1])
            self._keep(folded, size + added)
        return folded

    def _held_bytes(self, turns: list[Doc]) -> int | None:
        total = 0
        for doc in turns:
            if (size := self._turns.size(doc.get("_id", ""))) is None:
                return None
            total += size
        return total

    def _kept_prefix(self, history: list[Doc], replay_reasoning: bool) -> tuple[Folded | None, int]:
        # A chain's next turn continues the fold of all its turns but the last; another answer to the
        # same turn (a retry, a fork) the fold of them all.
        ids = tuple(doc.get("_id") for doc in history)
        for length in (len(ids), len(ids) - 1):
            if length <= 0 or (last := ids[length - 1]) not in self._folds:
                continue
            folded, size = self._folds[last]
            if folded.turn_ids == ids[:length] and folded.fold.replay_reasoning == replay_reasoning:
                self._folds.move_to_end(last)
                return folded, size
        return None, 0

    def _keep(self, folded: Folded, size: int) -> None:
        last = folded.turn_ids[-1]
        if last is None or size > self._max_bytes:
            return
        self._drop(last)
        self._folds[last] = (folded, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, (_, dropped) = self._folds.popitem(last=False)
            self._bytes -= dropped

    def _drop(self, last: str | None) -> None:
        if last is not None and (kept := self._folds.pop(last, None)) is not None:
            self._bytes -= kept[1]

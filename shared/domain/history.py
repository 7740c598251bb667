"""Earlier turns of a ``previous_response_id`` chain → Chat Completions messages.

Each stored turn contributes its input items, then its output items. Its ``instructions`` are never
carried over: OpenAI applies a response's instructions to that response only.

A chain is folded turn by turn, and a fold can be continued (``fold_turns(..., after=...)``): the
translator keeps the chains it folded (``services/translator/folds.py``), so a chain's next turn costs
that turn alone rather than the whole history again.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain import items

Doc = dict[str, Any]


@dataclass(frozen=True)
class Folded:
    """A chain's turns folded: the ids of the turns it holds, oldest first, and the fold, which is
    never changed again (``fold_turns`` continues a copy)."""

    turn_ids: tuple[str | None, ...]
    fold: items.Fold

    @property
    def index(self) -> Mapping[str, items.Item]:
        """The chain's items by id, so an ``item_reference`` can name an earlier item."""
        return self.fold.references

    def messages(self) -> list[items.Message]:
        """Chat messages for the turns, oldest first."""
        return self.fold.finished()


def chain_items(history: list[Doc]) -> list[items.Item]:
    """Every item of the chain, oldest first: each turn's input, then its output."""
    return [item for doc in history for item in _turn_items(doc)]


def fold_turns(history: list[Doc], *, replay_reasoning: bool = False, after: Folded | None = None) -> Folded:
    """``history`` folded. ``after`` is the fold of its first turns (the same ids, in order): it is
    continued with the rest instead of folding those again."""
    turn_ids = tuple(doc.get("_id") for doc in history)
    if after is None:
        after = Folded(turn_ids=(), fold=items.Fold(references={}, replay_reasoning=replay_reasoning))
    elif turn_ids[: len(after.turn_ids)] != after.turn_ids or after.fold.replay_reasoning != replay_reasoning:
        raise ValueError("the fold to continue is not of this history's first turns, folded alike")
    if len(after.turn_ids) == len(turn_ids):
        return after
    references = dict(after.index)
    fold = after.fold.copy(references)
    for doc in history[len(after.turn_ids) :]:
        turn = _turn_items(doc)
        references.update(_indexed(turn))
        # A stored turn may reference an item from outside the chain (it was resolved when that turn
        # ran); an old turn must not fail every later one, so such a reference is left out.
        for item in turn:
            if item.get("type") != "item_reference" or item["id"] in references:
                fold.add(item)
    return Folded(turn_ids=turn_ids, fold=fold)


def fold_history(history: list[Doc], *, replay_reasoning: bool = False) -> list[items.Message]:
    """Chat messages for the earlier turns, oldest first."""
    return fold_turns(history, replay_reasoning=replay_reasoning).messages()


def _indexed(turn: list[items.Item]) -> dict[str, items.Item]:
    return {item["id"]: item for item in turn if item.get("id") and item.get("type") != "item_reference"}


def _turn_items(doc: Doc) -> list[items.Item]:
    response = doc.get("response") or {}
    return [*doc.get("input_items", []), *(response.get("output") or [])]

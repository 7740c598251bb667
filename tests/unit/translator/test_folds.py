"""The translator's folded chains (services/translator/folds.py): a chain's next turn continues the
fold kept of its earlier turns, and a kept fold never shows a turn the loaded history lacks."""

from typing import Any

from services.translator.folds import FoldedChains
from shared.domain.history import fold_history
from shared.readmodel.turns import TurnCache


def _turn(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"resp_{n}",
        "tenant": "t",
        "status": "completed",
        "input_items": [{"type": "message", "role": "user", "content": f"question {n}", "id": f"msg_u{n}"}],
        "response": {
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "id": f"msg_a{n}",
                    "content": [{"type": "output_text", "text": f"answer {n}", "annotations": []}],
                }
            ],
        },
        **fields,
    }


CHAIN = [_turn(n) for n in range(1, 6)]


def _folds(**bounds: int) -> FoldedChains:
    turns = TurnCache()
    turns.keep(CHAIN)  # as the chain's load does
    return FoldedChains(turns, **bounds)


def _shares_earlier_messages(later: list[Any], earlier: list[Any]) -> bool:
    """Whether ``later`` holds ``earlier``'s messages themselves: the fold was continued, not redone."""
    return all(a is b for a, b in zip(later, earlier[:-1], strict=False))


def test_each_next_turn_continues_the_kept_fold() -> None:
    folds = _folds()
    previous = folds.fold(CHAIN[:1], replay_reasoning=False)
    for length in range(2, len(CHAIN) + 1):
        folded = folds.fold(CHAIN[:length], replay_reasoning=False)
        assert folded.messages() == fold_history(CHAIN[:length])
        assert _shares_earlier_messages(folded.fold.messages, previous.fold.messages)
        previous = folded


def test_a_second_answer_to_the_same_turn_takes_the_kept_fold_itself() -> None:
    folds = _folds()
    folds.fold(CHAIN[:2], replay_reasoning=False)
    first = folds.fold(CHAIN[:3], replay_reasoning=False)
    assert folds.fold(CHAIN[:3], replay_reasoning=False) is first


def test_a_turn_gone_from_the_history_is_never_shown_from_a_kept_fold() -> None:
    folds = _folds()
    folds.fold(CHAIN[:3], replay_reasoning=False)
    without_the_second = [CHAIN[0], CHAIN[2], CHAIN[3]]  # resp_2 deleted since
    folded = folds.fold(without_the_second, replay_reasoning=False)
    assert folded.messages() == fold_history(without_the_second)
    assert "msg_a2" not in folded.index


def test_a_fold_of_turns_the_turn_cache_does_not_hold_is_not_kept() -> None:
    folds = _folds()
    running = [*CHAIN[:2], _turn(6, status="in_progress")]  # not finished: never held
    first = folds.fold(running, replay_reasoning=False)
    again = folds.fold(running, replay_reasoning=False)
    assert again is not first and again.messages() == first.messages()


def test_folds_past_the_bound_are_not_kept() -> None:
    folds = _folds(max_bytes=100)  # less than one turn
    first = folds.fold(CHAIN[:2], replay_reasoning=False)
    assert folds.fold(CHAIN[:2], replay_reasoning=False) is not first


def test_a_fold_is_continued_only_with_the_same_reasoning_replay() -> None:
    folds = _folds()
    plain = folds.fold(CHAIN[:2], replay_reasoning=False)
    replayed = folds.fold(CHAIN[:2], replay_reasoning=True)
    assert replayed is not plain and replayed.fold.replay_reasoning

"""The numbering every writer of a response's events shares (shared/domain/sequence.py)."""

from shared.domain import sequence, stream
from shared.domain.sequence import QUEUED, first_of_run, next_after


def test_a_background_run_numbers_on_after_the_queued_state_and_a_foreground_one_from_zero():
    assert QUEUED == 0
    assert first_of_run(background=True) == next_after(QUEUED) == 1
    assert first_of_run(background=False) == 0


def test_a_writer_ending_a_response_numbers_on_from_the_highest_logged():
    assert next_after(None) == 0  # nothing logged
    assert next_after(None, first=first_of_run(background=True)) == 1
    assert next_after(7) == next_after(7, first=1) == 8


def test_the_stream_mapping_counts_on_densely_from_a_runs_first_number():
    for background in (False, True):
        first = sequence.first_of_run(background=background)
        state, opening = stream.start({"id": "resp_1", "output": []}, sequence_start=first)
        ending = stream.finish(state)
        numbers = [e["sequence_number"] for e in [*opening, *ending]]
        assert numbers == list(range(first, first + len(numbers)))
        assert next_after(numbers[-1]) == state.sequence

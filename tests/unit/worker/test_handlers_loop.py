"""What a redelivered chat call of a tool loop decides from the log: a first step's output begins after
its opening events; a later step's with any event of its own (numbered from its ``sequence_start``)."""

from services.worker.handlers import _output_begun
from services.worker.logged import Position
from shared.events import ToolLoop

from .test_runs import call


def test_a_first_step_has_begun_once_past_its_opening_events():
    first = call()
    assert not _output_begun(first, Position(last=1, last_type="response.in_progress"))
    assert _output_begun(first, Position(last=2, last_type="response.output_item.added"))


def test_a_later_step_has_begun_with_any_event_of_its_own():
    later = call().model_copy(update={"loop": ToolLoop(step=2), "sequence_start": 7})
    assert not _output_begun(later, Position())
    assert not _output_begun(later, Position(last=6, last_type="response.output_item.done"))
    assert _output_begun(later, Position(last=7, last_type="response.output_item.added"))

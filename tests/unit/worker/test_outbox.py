"""What a step's outbox logs: everything of a streamed or background response, only the end of a
foreground non-stream one, and nothing at or before ``after`` (a step run again); deltas emitted
together as one message, states alone (but a foreground stream's opening states, together)."""

from services.worker import outbox as outboxes
from services.worker.ledger import Ledger
from services.worker.outbox import Outbox, coalesced
from shared.events import ResponseDeltas, ResponseStreamed, client_events

from .test_runs import PATIENCE, MemoryLog, call


def payloads(*types: str) -> list[dict]:
    return [{"type": kind, "sequence_number": n, "response": {}} for n, kind in enumerate(types)]


def wrap(payload: dict, http_error: dict | None) -> ResponseStreamed:
    return ResponseStreamed.of(payload, response_id="r", tenant="t", http_error=http_error)


EVENTS = payloads(
    "response.created", "response.output_item.added", "response.output_text.delta", "response.completed"
)


async def test_a_streamed_step_logs_what_is_new():
    log = MemoryLog()
    outbox = Outbox(call(stream=True), Ledger(log, PATIENCE), after=1, wrap=wrap)
    await outbox.emit(EVENTS)
    await outbox.confirm()
    assert log.numbers() == [2, 3]


async def test_a_foreground_non_stream_step_logs_only_its_end():
    log = MemoryLog()
    outbox = Outbox(call(stream=False), Ledger(log, PATIENCE), after=None, wrap=wrap)
    await outbox.emit(EVENTS, {"status": 400})
    await outbox.confirm()
    assert log.types() == ["response.completed"]
    assert log.messages[-1].http_error == {"status": 400}


async def test_a_background_non_stream_step_logs_everything():
    log = MemoryLog()
    outbox = Outbox(call(stream=False, background=True), Ledger(log, PATIENCE), after=None, wrap=wrap)
    await outbox.emit(EVENTS)
    await outbox.confirm()
    assert log.numbers() == [0, 1, 2, 3]


async def test_deltas_emitted_together_are_one_message_and_states_go_alone():
    log = MemoryLog()
    outbox = Outbox(call(stream=True), Ledger(log, PATIENCE), after=None, wrap=wrap)
    await outbox.emit(EVENTS)
    await outbox.confirm()
    assert [type(m) for m in log.messages] == [ResponseStreamed, ResponseDeltas, ResponseStreamed]
    assert log.numbers() == [0, 1, 2, 3]


async def test_a_foreground_streams_opening_states_go_together_and_a_background_ones_alone():
    opening = payloads("response.created", "response.in_progress")
    for background, sizes in ((False, [2]), (True, [1, 1])):
        log = MemoryLog()
        outbox = Outbox(
            call(stream=True, background=background), Ledger(log, PATIENCE), after=None, wrap=wrap
        )
        await outbox.emit(opening)
        await outbox.confirm()
        assert [len(client_events(m)) for m in log.messages] == sizes
        assert log.numbers() == [0, 1]


def test_a_run_of_deltas_is_split_at_the_most_one_message_holds():
    many = payloads("response.in_progress", *["response.output_text.delta"] * (outboxes.MAX_COALESCED + 1))
    many += payloads("response.completed")
    sizes = [len(group) for group in coalesced(many)]
    assert sizes == [1, outboxes.MAX_COALESCED, 1, 1]

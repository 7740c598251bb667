"""A run against an in-memory log with JetStream's duplicate window and acks that can be lost, and a
backend served by httpx's MockTransport: what reaches the log when acks go missing, when another
writer holds the response, and when a call is run again; and that what the backend sent at once is
logged as one message of deltas, each state alone (a foreground stream's opening states together)."""

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from nats.js.api import PubAck

from services.worker import logged
from services.worker.deployments import Pool
from services.worker.failover import Backends
from services.worker.ledger import EventsNotLogged, Patience, Superseded
from services.worker.runs import Run
from shared import eventlog, subjects
from shared.config import GatewayConfig
from shared.events import (
    ChatCallRequested,
    Event,
    ResponseDeltas,
    ResponseStreamed,
    StreamMessage,
    client_events,
)

RESPONSE_ID = "resp_test"
# Quick enough for a unit test; the same rules as the defaults.
PATIENCE = Patience(ack_timeout_s=0.05, republishes=3, backoff_s=0.01, max_backoff_s=0.02)
CONFIG = GatewayConfig.model_validate(
    {"models": [{"name": "m", "api_base": "http://backend/v1", "model": "up"}], "retry": {"backoff_s": 0}}
)
# A hang in the code under test fails the test instead of stalling the run.
BOUND_S = 30


class MemoryLog:
    """The stream as the worker sees it. ``lose(seq, copies)`` drops the next ``copies`` sends of the
    event numbered ``seq`` (never stored, never acked); ``mute(seq)`` stores its next send but loses
    the ack, as a node that dies after replicating does."""

    def __init__(self, ack_delay_s: float = 0.0) -> None:
        self.ack_delay_s = ack_delay_s  # stored at once, acknowledged this much later
        self.messages: list[StreamMessage] = []  # stream order; index + 1 is the stream sequence
        self.sends: list[int] = []  # (first) sequence numbers, in the order they were sent
        self.acks: list[asyncio.Future[PubAck]] = []  # every ack handed out
        self._lost: dict[int, int] = {}
        self._muted: set[int] = set()

    def lose(self, seq: int, copies: int = 1) -> None:
        self._lost[seq] = copies

    def mute(self, seq: int) -> None:
        self._muted.add(seq)

    def write(self, event: ResponseStreamed) -> None:
        """An event logged by someone else (an earlier delivery, another worker)."""
        self.messages.append(event)

    async def append(self, event: StreamMessage) -> asyncio.Future[PubAck]:
        self.sends.append(event.sequence_number)
        ack = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        if self._lost.get(event.sequence_number, 0) > 0:
            self._lost[event.sequence_number] -= 1
            return ack
        stored = next((i for i, m in enumerate(self.messages) if m.event_id == event.event_id), None)
        if stored is None:
            self.messages.append(event)
        seq = (stored if stored is not None else len(self.messages) - 1) + 1
        if event.sequence_number in self._muted:
            self._muted.discard(event.sequence_number)
            return ack
        result = PubAck(stream=subjects.STREAM, seq=seq, duplicate=stored is not None or None)
        asyncio.get_running_loop().call_later(self.ack_delay_s, _resolve, ack, result)
        return ack

    async def stored(self, stream_sequence: int) -> Event:
        return self.messages[stream_sequence - 1]

    async def position(self, response_id: str) -> logged.Position:
        mine = [e for e in self.events() if e.response_id == response_id]
        if not mine:
            return logged.Position()
        newest = max(mine, key=lambda m: m.sequence_number)
        ended = any(m.is_terminal for m in mine if m.type in subjects.STATE_EVENT_TYPES)
        return logged.Position(last=newest.sequence_number, last_type=newest.type, ended=ended)

    async def cancel_requested(self, response_id: str) -> bool:
        return False

    def events(self) -> list[ResponseStreamed]:
        """Every client-facing event logged, in number order (deltas logged together apart)."""
        return sorted((e for m in self.messages for e in client_events(m)), key=lambda e: e.sequence_number)

    def numbers(self) -> list[int]:
        return [e.sequence_number for e in self.events()]

    def types(self) -> list[str]:
        return [e.type for e in self.events()]


def _resolve(ack: asyncio.Future[PubAck], result: PubAck) -> None:
    if not ack.done():  # a run that gave up on it cancelled it
        ack.set_result(result)


def call(*, stream: bool = True, background: bool = False) -> ChatCallRequested:
    return ChatCallRequested(
        event_id="evt_call",
        response_id=RESPONSE_ID,
        tenant="t",
        model="m",
        chat={"messages": [{"role": "user", "content": "hi"}]},
        response={
            "id": RESPONSE_ID,
            "object": "response",
            "status": "in_progress",
            "model": "m",
            "output": [],
        },
        stream=stream,
        background=background,
        sequence_start=1 if background else 0,
    )


def sse(*pieces: str) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    chunks += [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    chunks += [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def backend(*answers: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.AsyncClient, list]:
    """A client whose n-th request gets the n-th answer (the last one from then on)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1](request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


def answer(*pieces: str) -> Callable[[httpx.Request], httpx.Response]:
    headers = {"content-type": "text/event-stream"}
    return lambda _: httpx.Response(200, stream=httpx.ByteStream(sse(*pieces)), headers=headers)


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def overloaded(_: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": {"message": "overloaded"}})


async def execute(run: Run, log: MemoryLog, client: httpx.AsyncClient, **extra) -> None:
    backends = Backends(Pool(CONFIG), client)
    done = run.execute(backends=backends, log=log, deadline_s=BOUND_S, patience=PATIENCE, **extra)
    await asyncio.wait_for(done, BOUND_S)


def terminal(log: MemoryLog) -> list[ResponseStreamed]:
    return [m for m in log.messages if m.is_terminal]


def dense(log: MemoryLog) -> bool:
    """Every number from 0 logged once."""
    return log.numbers() == list(range(len(log.numbers())))


def output_text(event: ResponseStreamed) -> str:
    return "".join(p["text"] for item in event.payload["response"]["output"] for p in item["content"])


async def test_a_run_logs_every_event_once_numbered_densely():
    log, (client, _) = MemoryLog(), backend(answer("a", "b"))
    await execute(Run(call()), log, client)
    assert dense(log)
    assert log.types()[:2] == ["response.created", "response.in_progress"]
    assert [t.type for t in terminal(log)] == ["response.completed"]
    assert log.messages[-1].is_terminal  # logged last
    assert output_text(terminal(log)[0]) == "ab"


async def test_what_a_fast_backend_sent_at_once_is_logged_as_one_message_and_each_state_alone():
    log, (client, _) = MemoryLog(), backend(answer("a", "b", "c"))
    await execute(Run(call(background=True)), log, client)
    kinds = [(type(m), m.type) for m in log.messages]
    assert kinds[:2] == [(ResponseStreamed, "response.created"), (ResponseStreamed, "response.in_progress")]
    assert kinds[-1] == (ResponseStreamed, "response.completed")
    together = [m for m in log.messages if isinstance(m, ResponseDeltas)]
    deltas = [e.payload["delta"] for m in together for e in m.events() if e.type.endswith("text.delta")]
    assert deltas == ["a", "b", "c"]  # one backend read, one message
    assert not any(e.type in subjects.STATE_EVENT_TYPES for m in together for e in m.events())
    assert log.numbers() == list(range(1, len(log.numbers()) + 1))  # the api logged queued as 0


async def test_a_foreground_streams_opening_is_one_message_on_the_subject_the_store_does_not_read():
    log, (client, _) = MemoryLog(), backend(answer("a", "b", "c"))
    await execute(Run(call()), log, client)
    opening, *rest = log.messages
    assert isinstance(opening, ResponseDeltas)
    assert [e.type for e in opening.events()] == ["response.created", "response.in_progress"]
    assert eventlog.subject_of(opening) == subjects.response_deltas(RESPONSE_ID)  # not the store's
    states = [e.type for m in rest for e in client_events(m) if e.type in subjects.STATE_EVENT_TYPES]
    assert states == ["response.completed"] and log.messages[-1].is_terminal
    assert dense(log)


async def test_an_event_whose_ack_never_comes_is_sent_again_and_the_run_completes():
    log, (client, _) = MemoryLog(), backend(answer("a", "b", "c"))
    log.lose(2, copies=2)  # the stream leader died with the deltas from 2 on, twice
    await execute(Run(call()), log, client)
    assert log.sends.count(2) == 3
    assert dense(log)
    assert [t.type for t in terminal(log)] == ["response.completed"]
    assert log.messages[-1].is_terminal


async def test_a_stored_event_whose_ack_was_lost_is_not_logged_twice():
    log, (client, _) = MemoryLog(), backend(answer("a"))
    log.mute(2)
    await execute(Run(call()), log, client)
    assert log.sends.count(2) == 2
    assert dense(log)
    assert [t.type for t in terminal(log)] == ["response.completed"]


async def test_a_terminal_event_waits_until_everything_before_it_is_stored():
    log, (client, _) = MemoryLog(), backend(answer("a"))
    log.lose(1)  # in_progress goes missing; the terminal event must not overtake it
    await execute(Run(call()), log, client)
    types = log.types()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types.count("response.completed") == 1 and types[-1] == "response.completed"
    assert dense(log)


async def test_a_log_that_never_acknowledges_gives_up_after_its_republishes():
    log, (client, _) = MemoryLog(), backend(answer("a"))
    log.lose(0, copies=1000)
    with pytest.raises(EventsNotLogged):
        await execute(Run(call()), log, client)
    assert log.sends.count(0) == PATIENCE.republishes + 1
    assert terminal(log) == []


async def test_another_writer_at_one_of_its_numbers_supersedes_the_run_before_its_end():
    log, (client, _) = MemoryLog(), backend(answer("a", "b", "c"))
    other = Run(call())
    await other.abandon(log=log, message="taken over")  # numbers its failure 0: nothing was logged
    with pytest.raises(Superseded):
        await execute(Run(call()), log, client)
    assert [t.payload["response"]["error"]["message"] for t in terminal(log)] == ["taken over"]


async def test_a_run_whose_response_another_writer_ended_writes_nothing_of_its_own():
    """The sweeper ended it while its call waited; acks take a while, as over a network."""
    log, (client, _) = MemoryLog(ack_delay_s=0.01), backend(answer("a", "b", "c"))
    await Run(call()).abandon(log=log, message="swept")  # failed at 0: nothing was logged
    with pytest.raises(Superseded):
        await execute(Run(call()), log, client)
    assert log.types() == ["response.failed"]
    assert (await log.position(RESPONSE_ID)).ended


class TakenOverAt(MemoryLog):
    """Loses the first copy of every event from ``seq`` on (a stream leader died with them), and while
    they are missing another writer (a worker the call was redelivered to) ends the response at ``seq``."""

    def __init__(self, seq: int) -> None:
        super().__init__()
        self.seq = seq
        for lost in range(seq, seq + 20):
            self.lose(lost)

    async def append(self, event: StreamMessage) -> asyncio.Future[PubAck]:
        ack = await super().append(event)
        if event.sequence_number == self.seq and self.sends.count(self.seq) == 1:
            failed = {
                "type": "response.failed",
                "sequence_number": self.seq,
                "response": {"status": "failed"},
            }
            self.write(ResponseStreamed.of(failed, response_id=RESPONSE_ID, tenant="t"))
        return ack


async def test_re_sends_stop_at_the_first_number_another_writer_took():
    """Nothing of a superseded run lands after the other writer's ending: re-sends go one at a time."""
    log, (client, _) = TakenOverAt(2), backend(answer("a", "b", "c"))
    with pytest.raises(Superseded):
        await execute(Run(call()), log, client)
    assert log.numbers() == [0, 1, 2]
    assert [t.type for t in terminal(log)] == ["response.failed"] and log.messages[-1].is_terminal


async def test_a_superseded_run_gives_back_every_ack_it_still_waited_for():
    """The NATS client holds a slot per pending ack: a run that stops must not leave one behind."""
    log, (client, _) = MemoryLog(), backend(answer("a", "b", "c"))
    other, (other_client, _) = MemoryLog(), backend(answer("x", "y", "z"))
    # In the background, so that each opening state is a message of its own (1 created, 2 in_progress).
    await execute(Run(call(background=True)), other, other_client)
    log.write(other.messages[2])  # another writer's deltas from 3 on
    log.lose(2, copies=1000)  # never acknowledged: 3's duplicate is found in the wait for 2
    with pytest.raises(Superseded):
        await execute(Run(call(background=True)), log, client)
    assert all(ack.done() for ack in log.acks)


async def test_a_call_run_again_skips_the_opening_it_logged_before():
    log, (client, _) = MemoryLog(), backend(answer("a"))
    first, (silent, _) = MemoryLog(), backend(answer("x"))
    await execute(Run(call()), first, silent)
    log.write(first.messages[0])  # the first delivery logged its opening (created, in_progress), then died
    await execute(Run(call()), log, client, after=1)
    assert dense(log)
    assert log.sends[0] == 2
    assert output_text(terminal(log)[0]) == "a"


async def test_abandon_ends_failed_after_the_last_logged_event():
    log, (client, _) = MemoryLog(), backend(answer("a", "b"))
    await execute(Run(call(background=True)), log, client)
    completed = log.messages.pop()  # as if the worker died before its last event
    await Run(call(background=True)).abandon(log=log, message="stopped")
    failed = log.messages[-1]
    assert failed.type == "response.failed"
    assert failed.sequence_number == completed.sequence_number
    assert failed.payload["response"]["error"] == {"code": "server_error", "message": "stopped"}


async def test_abandon_leaves_a_response_that_ended_alone():
    log, (client, _) = MemoryLog(), backend(answer("a"))
    await execute(Run(call()), log, client)
    before = list(log.messages)
    await Run(call()).abandon(log=log, message="stopped")
    assert log.messages == before


async def test_abandon_looks_again_when_another_writer_logs_meanwhile():
    stale = logged.Position()  # what it reads first: nothing logged

    class Racing(MemoryLog):
        reads = 0

        async def position(self, response_id: str) -> logged.Position:
            self.reads += 1
            return stale if self.reads == 1 else await super().position(response_id)

    log = Racing()
    runner, (client, _) = Run(call()), backend(answer("a"))
    await execute(runner, log, client)
    await Run(call()).abandon(log=log, message="stopped")
    assert [t.type for t in terminal(log)] == ["response.completed"]
    assert log.reads == 2


async def test_a_refused_connection_is_tried_again_on_the_only_deployment():
    log, (client, seen) = MemoryLog(), backend(refuse_connection, answer("a"))
    await execute(Run(call()), log, client)
    assert len(seen) == 2
    assert output_text(terminal(log)[0]) == "a"


async def test_an_overloaded_only_deployment_is_not_tried_again():
    log, (client, seen) = MemoryLog(), backend(overloaded, answer("a"))
    await execute(Run(call()), log, client)
    assert len(seen) == 1
    assert [t.type for t in terminal(log)] == ["response.failed"]


def no_json(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>bad gateway</html>")


async def test_a_whole_answer_that_is_no_json_ends_the_response_failed_once():
    """A foreground non-stream call asks for the answer whole; a body that does not parse is the
    backend's fault: the response fails, the call is not run forever."""
    log, (client, seen) = MemoryLog(), backend(no_json)
    await execute(Run(call(stream=False)), log, client)
    assert [json.loads(r.content)["stream"] for r in seen] == [False]
    [failed] = terminal(log)
    assert failed.type == "response.failed"
    assert "could not be read" in failed.payload["response"]["error"]["message"]

"""Crash safety against real processes: workers, the store, nats-server and api replicas are killed
or restarted mid-flight, on a stack of this module's own so the session's stack stays untouched."""

import asyncio
import concurrent.futures
import contextlib
import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import nats
import openai
import pytest
from nats.js.api import ConsumerConfig
from pymongo import MongoClient

from deploy.local.stack import Stack
from services.store import durable as store_durable
from services.worker import handlers as worker_handlers
from services.worker import logged
from shared import consumers, eventlog, subjects
from shared.events import ResponseStreamed

from .stacks import module_stack, one_model, terminal, until

KEY = "sk-faults"
DEADLINE_S = 4
TTL_S = 3600
SLOW = {"content": "a b c d e f g h i j k l m n o p", "chunk_chars": 2, "delay_s": 0.1}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    env = {
        "FAULTS_KEY": KEY,
        "WORKER_ACK_WAIT_S": "2",  # a dead worker's call is redelivered after this
        "PROJECTION_WAIT_S": "1",
        "REQUEST_DEADLINE_S": str(DEADLINE_S),
        "RESPONSE_TTL_S": str(TTL_S),
        "STREAM_BUFFER_MSGS": "50",  # a stalled client overflows it at once
    }
    with module_stack(
        tmp_path_factory, mock_url, "faults", config=one_model("FAULTS_KEY", "faults"), env=env
    ) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def logged_events(client: openai.OpenAI, response_id: str) -> list:
    return list(client.responses.retrieve(response_id, stream=True))


def test_worker_killed_mid_response_ends_failed_not_stuck(stack, client, mock_llm):
    mock_llm.script(SLOW)
    started = client.responses.create(model="m1", input="x", background=True)
    until(lambda: client.responses.retrieve(started.id).status == "in_progress", "the worker took it")
    time.sleep(0.3)  # let some deltas out
    stack.kill("worker")
    stack.restart("worker")
    final = terminal(client, started.id)
    assert final.status == "failed"
    assert "worker" in final.error.message
    events = logged_events(client, started.id)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.failed"
    assert sum(e.type == "response.created" for e in events) == 1  # never run twice


def test_a_worker_stopped_mid_response_finishes_it_before_it_exits(stack, client, mock_llm):
    """SIGTERM (a rolling deploy): the run in hand ends as it would have, then the process exits.
    Cut off instead, the response would end failed, as a killed worker's does."""
    mock_llm.script(SLOW)
    started = client.responses.create(model="m1", input="x", background=True)
    until(lambda: client.responses.retrieve(started.id).status == "in_progress", "the worker took it")
    stack.kill("worker", sig=signal.SIGTERM)
    assert stack.process("worker").wait(timeout=15), "the worker exited once its run ended"
    stack.restart("worker")
    final = terminal(client, started.id)
    assert final.status == "completed"
    assert final.output_text == SLOW["content"]
    events = logged_events(client, started.id)
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_worker_killed_before_any_output_runs_the_call_again(stack, client, mock_llm):
    """Only the opening events were logged (the backend had not answered yet): the client has seen
    nothing of an answer, so the replica that gets the call runs it again instead of failing it."""
    mock_llm.script({"content": "never seen", "wait_s": 30})
    started = client.responses.create(model="m1", input="try me again", background=True)
    until(lambda: client.responses.retrieve(started.id).status == "in_progress", "the worker took it")
    until(lambda: mock_llm.requests(), "the backend was called")
    stack.kill("worker")
    stack.restart("worker")
    final = terminal(client, started.id)
    assert final.status == "completed"
    assert final.output_text == "echo: try me again"
    events = logged_events(client, started.id)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events].count("response.created") == 1
    assert events[-1].type == "response.completed"
    assert len(mock_llm.requests()) == 2


def test_a_worker_brings_an_older_durable_up_to_date(stack, client):
    """FastStream binds to an existing durable as it is; a worker that starts updates it instead, so
    one made by an older version (30 s ack wait, unlimited deliveries) gets the short ack wait and
    the delivery bound."""

    async def worker_durable(**older) -> ConsumerConfig:
        nc = await nats.connect(stack.nats_url)
        try:
            js = nc.jetstream()
            current = (await js.consumer_info(subjects.STREAM, "worker")).config
            if older:
                await js.add_consumer(subjects.STREAM, current.evolve(**older))
            return (await js.consumer_info(subjects.STREAM, "worker")).config
        finally:
            await nc.close()

    older = asyncio.run(worker_durable(ack_wait=30.0, max_deliver=-1, backoff=None))
    assert (older.ack_wait, older.max_deliver, older.backoff) == (30.0, -1, None)
    stack.restart("worker")
    updated = until(
        lambda: (config := asyncio.run(worker_durable())).ack_wait != 30.0 and config,
        "the restarted worker updated its durable",
    )
    assert updated.ack_wait == 2.0  # WORKER_ACK_WAIT_S of this stack
    assert updated.max_deliver == consumers.REDELIVERY.max_deliver
    assert updated.backoff == worker_handlers.ack_waits(2.0, consumers.REDELIVERY.max_deliver)
    assert client.responses.create(model="m1", input="still served").output_text == "echo: still served"


def test_a_response_is_read_as_ended_by_any_terminal_event(stack):
    """A writer that lost a race may log its in_progress and a delta after another writer's failed;
    the worker still reads the response as ended, and numbers anything new after all of it."""
    response_id = "resp_race" + uuid.uuid4().hex

    async def position_after_a_race() -> logged.Position:
        nc = await nats.connect(stack.nats_url)
        try:
            js = nc.jetstream()
            for seq, kind in enumerate(
                ("response.failed", "response.in_progress", "response.output_text.delta")
            ):
                payload = {"type": kind, "sequence_number": seq}
                await eventlog.append(js, ResponseStreamed.of(payload, response_id=response_id, tenant="t"))
            return await logged.JetStreamLog(js).position(response_id)
        finally:
            await nc.close()

    position = asyncio.run(position_after_a_race())
    assert position.ended
    assert (position.last, position.last_type) == (2, "response.output_text.delta")


def test_call_waits_for_a_worker_and_a_queued_cancel_holds(stack, client, mock_llm):
    stack.kill("worker")
    waiting = client.responses.create(model="m1", input="wait for me", background=True)
    doomed = client.responses.create(model="m1", input="never run", background=True)
    assert client.responses.cancel(doomed.id).status == "queued"  # nobody runs it yet
    stack.restart("worker")
    assert terminal(client, waiting.id).output_text == "echo: wait for me"
    assert terminal(client, doomed.id).status == "cancelled"
    assert all("never run" not in str(r["body"]) for r in mock_llm.requests())


def test_store_restart_catches_up_without_loss_or_doubles(stack, client, mock_llm):
    stack.kill("store")
    made = [client.responses.create(model="m1", input=f"while the store was down {i}") for i in range(3)]
    assert all(r.status == "completed" for r in made)  # answered even though nothing was projected
    for i, response in enumerate(made):  # and readable whole, from the log
        assert client.responses.retrieve(response.id).output_text == f"echo: while the store was down {i}"
        items = client.responses.input_items.list(response.id)
        assert [item.content[0].text for item in items.data] == [f"while the store was down {i}"]
    stack.restart("store")

    def projected() -> list[dict] | None:
        with MongoClient(stack.mongo_uri) as mongo:
            ids = [r.id for r in made]
            found = {"_id": {"$in": ids}, "status": "completed", "input_items": {"$ne": None}}
            docs = list(mongo["responses_gateway"]["responses"].find(found))
        return docs if len(docs) == len(made) else None

    docs = until(projected, "the store caught up")
    assert sorted(d["_id"] for d in docs) == sorted(r.id for r in made)
    for doc in docs:  # retention: each response expires TTL after it was created
        assert doc["expires_at"].timestamp() == pytest.approx(doc["created_at"] + TTL_S, abs=1)


def test_a_request_the_store_held_when_killed_is_projected_after_its_restart(stack, client, mock_llm):
    """The store holds a foreground response's request, unacked, to write it with the response's end
    (services/store/pairing.py); killed meanwhile, it loses nothing: after its restart the end is
    projected at once and the request when JetStream delivers it again (the store's ack wait)."""
    mock_llm.script(SLOW)
    with _store_unacked(stack) as unacked, concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(client.responses.create, model="m1", input="held by the store")
        until(lambda: unacked() == 1, "the store holds the request")
        stack.kill("store")
        response = answer.result(timeout=30)
    assert response.status == "completed"
    with MongoClient(stack.mongo_uri) as mongo:
        responses = mongo["responses_gateway"]["responses"]
        assert responses.find_one({"_id": response.id}) is None  # held, not written
        stack.restart("store")
        whole = {"_id": response.id, "status": "completed", "input_items": {"$ne": None}}
        doc = until(lambda: responses.find_one(whole), "the held request is projected")
    assert doc["input_items"][0]["content"][0]["text"] == "held by the store"
    assert doc["response"]["output"][0]["content"][0]["text"] == SLOW["content"] == response.output_text


@contextlib.contextmanager
def _store_unacked(stack: Stack) -> Iterator[Callable[[], int]]:
    """How many events the store has been delivered and not acked, read over one connection, so that
    each look is quick enough to fall inside a short hold even on a busy machine."""
    loop = asyncio.new_event_loop()
    nc = loop.run_until_complete(nats.connect(stack.nats_url))
    js = nc.jetstream()

    def unacked() -> int:
        info = loop.run_until_complete(js.consumer_info(subjects.STREAM, store_durable.DURABLE))
        return info.num_ack_pending

    try:
        yield unacked
    finally:
        loop.run_until_complete(nc.close())
        loop.close()


def test_nats_restart_every_service_reconnects(stack, client, mock_llm):
    mock_llm.script({**SLOW, "delay_s": 0.2})
    in_flight = client.responses.create(model="m1", input="across a restart", background=True)
    until(lambda: client.responses.retrieve(in_flight.id).status == "in_progress", "running")
    stack.restart("nats")
    answer = until(lambda: client.responses.create(model="m1", input="after"), "a request succeeds again")
    assert answer.output_text == "echo: after"
    assert terminal(client, in_flight.id).status in ("completed", "failed")


def test_api_replica_killed_mid_stream_resume_on_another(stack, client, mock_llm):
    replica = stack.add_replica("api")
    mock_llm.script(SLOW)
    with openai.OpenAI(base_url=f"{replica.url}/v1", api_key=KEY, max_retries=0) as doomed_client:
        seen = []
        with doomed_client.responses.create(model="m1", input="x", background=True, stream=True) as stream:
            for event in stream:
                seen.append(event)
                if event.type == "response.output_text.delta":
                    break
            replica.kill()
    rest = list(
        client.responses.retrieve(seen[0].response.id, stream=True, starting_after=seen[-1].sequence_number)
    )
    events = seen + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == SLOW["content"]


def test_deadline_fails_a_stalled_backend(client, mock_llm):
    mock_llm.script({"content": "too late", "delay_s": DEADLINE_S + 2})
    response = client.responses.create(model="m1", input="x")
    assert response.status == "failed"
    assert "deadline" in response.error.message


def test_a_stalled_client_gets_every_event_from_the_log(stack, mock_llm):
    """The api holds at most STREAM_BUFFER_MSGS events for a client that stops reading; NATS drops
    the rest, and the stream goes on from the log once the client reads again."""
    text = "".join(chr(ord("a") + i % 26) for i in range(6000))
    mock_llm.script({"content": text, "chunk_chars": 1})
    with httpx.stream(
        "POST",
        f"{stack.api_url}/v1/responses",
        json={"model": "m1", "input": "x", "stream": True},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
    ) as reply:
        time.sleep(3)  # the client stalls while the backend streams thousands of deltas
        frames = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    assert [f["sequence_number"] for f in frames] == list(range(len(frames)))
    assert "".join(f["delta"] for f in frames if f["type"] == "response.output_text.delta") == text
    assert frames[-1]["type"] == "response.completed"

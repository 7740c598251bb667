"""Poison messages published straight onto each consumer's subject, bypassing the api, on a stack of this
module's own: each ends its response ``failed`` (where a response exists for it) or in the dead-letter
stream, is never retried without bound, leaves the log nearly as it was, and does not stop a
well-formed request. Also: deliveries lost to timeouts are dead-lettered, durables made by an older
version get their bounds, and the operators' dead-letter CLI."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial

import nats
import openai
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pymongo import MongoClient

from deploy.local.stack import REPO_ROOT, Stack
from services.translator import handlers as translator
from shared import deadletter, subjects
from shared.events import ChatCallRequested, ResponseRequested
from shared.request_model import ResponseCreateRequest
from tests.eventually import eventually
from tests.exhausted_deliveries import exhaust_deliveries

from .stacks import module_stack, one_model

KEY = "sk-poison"
TENANT = "poison"  # the key's project
MAX_DELIVER = translator.REDELIVERY.max_deliver
DURABLES = ("translator", "worker", "store")
LOG_GROWTH_LIMIT = 100_000
WAIT_S = 90.0  # a bound on waiting for the pipeline to settle, not a timing assertion
_until = partial(eventually, within_s=WAIT_S, every_s=0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    env = {"POISON_KEY": KEY, "PROJECTION_WAIT_S": "1", "REQUEST_DEADLINE_S": "20"}
    with module_stack(
        tmp_path_factory,
        mock_url,
        "poison",
        config=one_model("POISON_KEY", TENANT, retry={"attempts": 2, "backoff_s": 0.05}),
        env=env,
    ) as running:
        yield running


@pytest.fixture
async def js(stack: Stack) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.nats_url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


@dataclass(frozen=True)
class Poison:
    name: str
    subject: str
    data: bytes
    # The durables expected to dead-letter it.
    dead_lettered_by: tuple[str, ...]
    # The response it names, which must end failed; absent_ok: or never exist (nothing could read it).
    response_id: str | None = None
    absent_ok: bool = False


def _rid(name: str) -> str:
    return f"resp_poison{name}{uuid.uuid4().hex[:12]}"


def _request(response_id: str, **fields) -> dict:
    body = ResponseCreateRequest(model="m1", input="hi").model_dump(mode="json")
    event = ResponseRequested(
        event_id=f"evt_{response_id}", response_id=response_id, tenant=TENANT, request=body, created_at=1
    ).model_dump(mode="json")
    return {**event, **fields}


def _poisons(corrupt_turn: str) -> list[Poison]:
    garbage = b"\x00\xffnot json at all\xfe"
    wrong_shape = json.dumps({"event_id": "evt_x", "type": "gateway.response.requested", "hello": 1}).encode()
    poisons = []
    for kind, durables in [
        ("requested", ("translator", "store")),
        ("call", ("worker",)),
        ("state", ("store",)),
        ("deleted", ("store",)),
        ("cancel", ()),  # only the worker's core subscription reads it: nothing to dead-letter
    ]:
        poisons.append(Poison(f"garbage on {kind}", f"resp.{_rid(kind)}.{kind}", garbage, durables))
        poisons.append(Poison(f"wrong shape on {kind}", f"resp.{_rid(kind)}.{kind}", wrong_shape, durables))

    # A tool without a name, built as a dict so that no model refuses it on the way in: whoever reads
    # it either refuses it (then nothing can tell its response) or fails translating it.
    nameless = _rid("nameless")
    request = _request(nameless)
    request["request"]["tools"] = [{"type": "function", "parameters": {}}]
    poisons.append(
        Poison(
            "a tool without a name",
            subjects.requested(nameless),
            json.dumps(request).encode(),
            ("translator",),
            response_id=nameless,
            absent_ok=True,
        )
    )

    # A well-formed request whose translation raises: its chain names a stored turn that is corrupt.
    corrupt = _rid("corrupt")
    poisons.append(
        Poison(
            "a request whose translation raises",
            subjects.requested(corrupt),
            json.dumps(_request(corrupt, chain=[corrupt_turn])).encode(),
            ("translator",),
            response_id=corrupt,
        )
    )

    # A chat call whose chat body is nonsense: no backend can answer it.
    nonsense = _rid("nonsense")
    call = ChatCallRequested(
        event_id=f"evt_{nonsense}_call",
        response_id=nonsense,
        tenant=TENANT,
        model="m1",
        chat={"messages": "nonsense", "temperature": {"not": "a number"}},
        response={"id": nonsense, "object": "response", "status": "in_progress", "model": "m1", "output": []},
        stream=False,
    )
    poisons.append(
        Poison(
            "a chat call with a nonsense chat body",
            subjects.chat_call(nonsense),
            call.model_dump_json().encode(),
            (),
            response_id=nonsense,
        )
    )
    return poisons


async def _letters(js: JetStreamContext) -> list[deadletter.Letter]:
    try:
        return [letter async for letter in deadletter.letters(js)]
    except NotFoundError:
        return []


async def _terminal_or_absent(client: openai.AsyncOpenAI, response_id: str) -> str | None:
    try:
        response = await client.responses.retrieve(response_id)
    except openai.NotFoundError:
        return None
    return response.status


async def test_poison_on_every_subject_ends_failed_or_dead_lettered(stack, js, client, mock_llm):
    base = await client.responses.create(model="m1", input="a turn that will be corrupted")
    with MongoClient(stack.mongo_uri) as mongo:
        responses = mongo["responses_gateway"]["responses"]
        whole = {"_id": base.id, "status": "completed", "input_items": {"$ne": None}}

        async def projected():  # the api answers before the store has written the turn
            return responses.find_one(whole)

        await _until(projected, "the turn projected")
        responses.update_one({"_id": base.id}, {"$set": {"input_items": [42]}})
    poisons = _poisons(corrupt_turn=base.id)

    async def well_formed() -> tuple[openai.types.responses.Response, float]:
        started = time.monotonic()
        response = await client.responses.create(model="m1", input="still served")
        return response, time.monotonic() - started

    quiet_s = sorted([(await well_formed())[1] for _ in range(5)])[2]  # reported, never asserted
    log_before = (await js.stream_info(subjects.STREAM)).state
    delivered_before = {
        d: (await js.consumer_info(subjects.STREAM, d)).delivered.consumer_seq for d in DURABLES
    }

    concurrent = asyncio.create_task(well_formed())
    for i, poison in enumerate(poisons):
        await js.publish(
            poison.subject,
            poison.data,
            stream=subjects.STREAM,
            headers={"Nats-Msg-Id": f"poison-{uuid.uuid4()}-{i}"},
        )
    served, latency_s = await concurrent
    assert served.status == "completed" and served.output_text == "echo: still served"
    print(
        f"\nwell-formed request beside the poison: {latency_s * 1000:.0f} ms (quiet: {quiet_s * 1000:.0f} ms)"
    )

    expected = {(durable, p.subject) for p in poisons for durable in p.dead_lettered_by}

    async def all_dead_lettered():
        found = {(letter.consumer, letter.original_subject) for letter in await _letters(js)}
        return expected <= found or None

    try:
        await _until(all_dead_lettered, "every poison dead-lettered")
    finally:
        found = {(letter.consumer, letter.original_subject) for letter in await _letters(js)}
        print("missing letters:", sorted(expected - found))

    for poison in poisons:
        if poison.response_id is None:
            continue

        async def ended(rid=poison.response_id, absent_ok=poison.absent_ok):
            status = await _terminal_or_absent(client, rid)
            return (status == "failed" or (status is None and absent_ok)) and (status or "absent")

        await _until(ended, f"{poison.name}: its response ends failed")
        if poison.response_id and not poison.absent_ok:
            failed = await client.responses.retrieve(poison.response_id)
            assert failed.error is not None and failed.error.code == "server_error", poison.name

    for letter in await _letters(js):
        assert letter.reason, "a letter says why"

    log_after = (await js.stream_info(subjects.STREAM)).state
    grown = log_after.bytes - log_before.bytes
    print(f"log grew by {grown} bytes, {log_after.messages - log_before.messages} messages")
    assert grown < LOG_GROWTH_LIMIT
    published = log_after.last_seq - log_before.last_seq
    for durable in DURABLES:
        info = await js.consumer_info(subjects.STREAM, durable)
        deliveries = info.delivered.consumer_seq - delivered_before[durable]
        print(
            f"{durable}: {deliveries} deliveries for {published} new messages of the log, "
            f"{info.num_redelivered} redelivered"
        )
        bound = info.config.max_deliver  # each service chooses its own
        assert 0 < bound <= 100
        assert info.num_redelivered <= bound
        assert deliveries <= published * bound
    after_s = sorted([(await well_formed())[1] for _ in range(5)])[2]
    print(f"well-formed requests once the poison is settled: {after_s * 1000:.0f} ms (median of 5)")


async def test_a_durable_from_an_older_version_gets_its_bounds(stack, js):
    info = await js.consumer_info(subjects.STREAM, translator.DURABLE)
    assert info.config.max_deliver == MAX_DELIVER
    # What an older version left in its data directory: the same durable, without a bound.
    await js.add_consumer(subjects.STREAM, info.config.evolve(max_deliver=-1))
    assert (await js.consumer_info(subjects.STREAM, translator.DURABLE)).config.max_deliver == -1
    stack.restart("translator")
    stack.wait_ready()  # the api's readiness asks every service: the translator is subscribed again

    async def bounded():
        info = await js.consumer_info(subjects.STREAM, translator.DURABLE)
        return info if info.config.max_deliver == MAX_DELIVER else None

    after = await _until(bounded, "the restarted translator bounds its durable")
    assert after.ack_floor.stream_seq >= info.ack_floor.stream_seq  # updated in place, not reset


async def test_deliveries_lost_to_timeouts_are_dead_lettered_and_the_cli_manages_letters(stack, js):
    """A durable whose handler never answers (a process killed on every delivery): JetStream's
    max-deliveries advisory makes the service's watcher copy the message into the dead letters."""
    probe = f"probe{uuid.uuid4().hex[:10]}"
    subject = f"resp.{probe}.probe"  # on the log's stream, read by none of the services
    exhausted = await exhaust_deliveries(
        stack.nats_url,
        js,
        consumer=probe,
        subject=subject,
        data=b'{"probe": true}',
        headers={"Nats-Msg-Id": probe, "X-Probe": "1"},
        wait_s=WAIT_S,
    )
    letter = exhausted.letter
    assert exhausted.handed_on[0][0] == b'{"probe": true}' and "2 deliveries" in exhausted.handed_on[0][1]
    assert letter.original_subject == subject and letter.original_sequence == exhausted.sent.seq
    assert letter.deliveries == 2 and "timed out" in letter.reason

    listed = await _cli(stack, "list", "--consumer", probe)
    assert f"{letter.sequence}\t{probe}\t{subject}" in listed
    shown = await _cli(stack, "show", str(letter.sequence))
    assert "Gateway-Dead-Reason" in shown and "X-Probe: 1" in shown and '{"probe": true}' in shown

    redriven = await _cli(stack, "redrive", str(letter.sequence))
    new_seq = int(redriven.rsplit(" ", 1)[1])
    again = await js.get_msg(subjects.STREAM, new_seq)
    assert again.subject == subject and again.data == b'{"probe": true}'
    assert again.headers["X-Probe"] == "1" and again.headers["Nats-Msg-Id"] != probe
    assert letter.sequence not in [d.sequence for d in await _letters(js)]
    assert "not found" in await _cli(stack, "show", str(letter.sequence), ok=False)

    await deadletter.keep(
        js,
        deadletter.Original(subject, new_seq, b"{}", {}, 1),
        consumer=probe,
        reason="a letter to purge",
    )
    (to_purge,) = [d for d in await _letters(js) if d.consumer == probe]
    await _cli(stack, "purge", str(to_purge.sequence))
    assert [d for d in await _letters(js) if d.consumer == probe] == []
    await js.delete_consumer(subjects.STREAM, probe)


async def _cli(stack: Stack, *args: str, ok: bool = True) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.deadletter_cli", *args],
        cwd=REPO_ROOT,
        env={"NATS_URL": stack.nats_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode == 0) == ok, done.stderr
    return done.stdout + done.stderr


async def test_a_log_that_does_not_answer_is_a_retryable_503_not_a_500(stack, client):
    """Publishes are retried within a bounded budget (a leader election fits in it); past it the
    client is told to retry (503 with retry-after), never a bare 500."""
    stack.kill("nats")
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            await client.responses.create(model="m1", input="while the log is down")
    finally:
        stack.restart("nats")
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"] == "1"
    assert refused.value.body["code"] == "service_unavailable"

    async def served():
        try:
            return await client.responses.create(model="m1", input="after")
        except (openai.APIStatusError, openai.APIConnectionError):
            return None

    assert (await _until(served, "the gateway serves again once the log is back")).status == "completed"

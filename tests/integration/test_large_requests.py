"""Requests far past NATS's 1 MiB message limit, up to MAX_BODY_BYTES (16 MB by default): large inputs,
images as data URLs, chains whose history outgrows a message, large outputs. Events over the claim-check
threshold travel as a reference to NATS Object Store (shared/eventlog.py), on a stack of this module's
own with the default body limit."""

import asyncio
import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import openai
import pytest

from deploy.local.stack import Stack
from shared import eventlog, subjects
from shared.events import ResponseRequested
from shared.request_model import ResponseCreateRequest

from .stacks import module_stack, one_model

KEY = "sk-large"
MB = 1_000_000
MAX_BODY_BYTES = 16 * 1024 * 1024  # the gateway's default, which this stack keeps
SHORT = {"content": "ok"}  # the mock would otherwise echo megabytes back four characters at a time


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    with module_stack(
        tmp_path_factory, mock_url, "large", config=one_model("LARGE_KEY", "large"), env={"LARGE_KEY": KEY}
    ) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0, timeout=120) as sdk:
        yield sdk


def _text(size: int, seed: str = "a") -> str:
    """Distinct text of ``size`` characters, so that a truncated copy is told apart from the whole."""
    words = (f"{seed}{i}" for i in range(size))
    return " ".join(words)[:size]


def _last_user_content(mock_llm) -> object:
    body = mock_llm.requests()[-1]["body"]
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def _input_texts(client: openai.OpenAI, response_id: str) -> list[str]:
    items = client.responses.input_items.list(response_id, order="asc")
    return [part.text for item in items.data for part in item.content if part.type == "input_text"]


def test_an_input_over_a_nats_message_is_served_and_retrievable(client, mock_llm):
    mock_llm.script(SHORT)
    text = _text(int(1.5 * MB))
    response = client.responses.create(model="m1", input=text)
    assert response.status == "completed"
    assert response.output_text == "ok"
    assert _last_user_content(mock_llm) == text  # the backend got all of it
    assert client.responses.retrieve(response.id).status == "completed"
    assert _input_texts(client, response.id) == [text]


def test_an_image_data_url_of_two_megabytes(client, mock_llm):
    mock_llm.script(SHORT)
    image = "data:image/png;base64," + base64.b64encode(os.urandom(int(1.5 * MB))).decode()
    assert len(image) > 2 * MB
    content = [{"type": "input_text", "text": "what is this?"}, {"type": "input_image", "image_url": image}]
    response = client.responses.create(model="m1", input=[{"role": "user", "content": content}])
    assert response.status == "completed"
    sent = _last_user_content(mock_llm)
    assert [part["image_url"]["url"] for part in sent if part["type"] == "image_url"] == [image]
    stored = client.responses.input_items.list(response.id).data[0].content
    assert [part.image_url for part in stored if part.type == "input_image"] == [image]


def test_a_chain_whose_history_outgrows_a_message(client, mock_llm):
    mock_llm.script(SHORT, SHORT, SHORT)
    first_text, second_text = _text(400_000, "a"), _text(400_000, "b")
    first = client.responses.create(model="m1", input=first_text)
    second = client.responses.create(model="m1", input=second_text, previous_response_id=first.id)
    third = client.responses.create(model="m1", input="and now?", previous_response_id=second.id)
    assert [r.status for r in (first, second, third)] == ["completed"] * 3
    messages = mock_llm.requests()[-1]["body"]["messages"]
    # The whole history reached the backend: the chat call held more than a NATS message can.
    assert [m["content"] for m in messages if m["role"] == "user"] == [first_text, second_text, "and now?"]
    assert _input_texts(client, second.id) == [second_text]
    assert client.responses.retrieve(third.id).previous_response_id == second.id


def test_a_large_background_request_completes(client, mock_llm):
    mock_llm.script(SHORT)
    text = _text(int(1.5 * MB), "bg")
    queued = client.responses.create(model="m1", input=text, background=True)
    assert queued.status == "queued"
    for _ in range(600):  # a bound on waiting, not a timing assertion
        done = client.responses.retrieve(queued.id)
        if done.status not in ("queued", "in_progress"):
            break
        time.sleep(0.1)
    assert done.status == "completed"
    assert _input_texts(client, queued.id) == [text]
    events = list(client.responses.retrieve(queued.id, stream=True))
    assert events[0].type == "response.queued"
    assert events[-1].type == "response.completed"


def test_a_large_streamed_request_and_output(client, mock_llm):
    """An output past the threshold: the worker's closing events (text done, item done, completed) each
    hold it whole, so they travel as claim checks and the api resolves them for the client."""
    output = _text(600_000, "out")
    mock_llm.script({"content": output, "chunk_chars": 200_000})
    text = _text(int(1.2 * MB), "s")
    with client.responses.create(model="m1", input=text, stream=True) as stream:
        events = list(stream)
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == output
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == output
    assert client.responses.retrieve(events[-1].response.id).output_text == output


def test_a_body_over_the_limit_is_refused_before_anything_is_logged(stack, client, mock_llm):
    before = _log_messages(stack)
    body = b'{"model": "m1", "input": "' + b"x" * MAX_BODY_BYTES + b'"}'
    reply = httpx.post(
        f"{stack.api_url}/v1/responses",
        content=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=120,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "request_too_large"
    assert _log_messages(stack) == before
    assert mock_llm.requests() == []


def test_a_body_ten_times_the_limit_is_never_held_whole(stack):
    """What passes the limit is read and dropped: a client cannot make the api hold what it sends.
    Starlette's ``Request.body()`` held a body twice over before its size was checked."""
    api = stack.process("api")
    assert api.pid is not None
    peak_before = _peak_rss_mb(api.pid)
    reply = httpx.post(
        f"{stack.api_url}/v1/responses",
        content=b"x" * (10 * MAX_BODY_BYTES),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=120,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "request_too_large"
    # At most the limit's worth is held at once (and the body whole would be ten times it).
    assert _peak_rss_mb(api.pid) < peak_before + 4 * MAX_BODY_BYTES / MB


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1000


async def test_a_claim_checked_event_round_trips_and_a_republish_is_one_event(stack):
    request = ResponseCreateRequest(model="m1", input=_text(2 * MB, "rt"))
    event = ResponseRequested(
        event_id="evt_claimcheck_roundtrip",
        response_id="resp_claimcheck_roundtrip",
        tenant="t-roundtrip",
        request=request,
        created_at=1,
    )
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        first = await eventlog.append(js, event)
        again = await eventlog.append(js, event)
        assert again.duplicate and again.seq == first.seq  # JetStream kept one message
        raw = await js.get_msg(subjects.STREAM, first.seq)
        assert len(raw.data) < 1024  # only the envelope is in the log
        envelope = raw.data.decode()
        for fact in (event.event_id, event.response_id, event.tenant, event.type):
            assert fact in envelope  # what an audit reading the log sees
        assert raw.headers[eventlog.CLAIM_CHECK_HEADER] == event.event_id
        assert await eventlog.decode(js, raw) == event
        bucket = await js.object_store(eventlog.CLAIM_CHECK_BUCKET)
        assert [o.name for o in await bucket.list()].count(event.event_id) == 1
    finally:
        await nc.close()


def _log_messages(stack: Stack) -> int:
    async def count() -> int:
        nc = await nats.connect(stack.nats_url)
        try:
            return (await nc.jetstream().stream_info(subjects.STREAM)).state.messages
        finally:
            await nc.close()

    return asyncio.run(count())

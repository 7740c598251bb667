"""The operator's audit of the log (services/store/audit.py) on a JetStream server of this module's own:
a response's events in log order as envelopes that never carry content, with the content added while
its data key exists and "erased" once it is destroyed; an export of envelopes since a time; and the CLI,
which shows envelopes alone without the master key and erases a project's keys."""

import base64
import io
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import nats
import pytest
from nats.js import JetStreamContext

from services.store import audit
from shared import eventlog, sealing

from .samples import TENANT, lifecycle

MASTER = sealing.MasterKeys(os.urandom(32))


@pytest.fixture
async def sealed(nats_url: str):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await eventlog.ensure_stream(js)
    await eventlog.seal_with(js, MASTER, ttl_s=3600)
    try:
        yield js
    finally:
        await nc.close()


async def _logged(js: JetStreamContext, text: str = "a secret answer") -> tuple[str, list]:
    response_id = f"resp_{uuid.uuid4().hex[:12]}"
    events = lifecycle(response_id, text=text)
    for event in events:
        await eventlog.append(js, event)
    return response_id, events


async def test_show_lists_a_responses_events_in_log_order_without_content(sealed: JetStreamContext):
    response_id, events = await _logged(sealed)
    await _logged(sealed)  # another response's events stay out

    lines = await audit.show(sealed, response_id, with_content=False)

    assert [line["event_id"] for line in lines] == [e.event_id for e in events]
    assert all(line["response_id"] == response_id and line["tenant"] == TENANT for line in lines)
    sequences = [line["stream_seq"] for line in lines]
    assert sequences == sorted(sequences)
    assert lines[0]["subject"] == eventlog.subject_of(events[0])
    shown = json.dumps(lines)
    assert "a secret answer" not in shown and "Hello" not in shown
    assert all("content" not in line for line in lines)


async def test_show_adds_the_content_while_its_key_exists_and_says_erased_after(sealed: JetStreamContext):
    response_id, events = await _logged(sealed, text="still readable")
    lines = await audit.show(sealed, response_id, with_content=True)
    assert lines[0]["content"]["request"]["input"] == "Hello"
    assert "still readable" in json.dumps(lines[-1]["content"])

    await eventlog.data_keys(sealed).destroy(TENANT, response_id)
    erased = await audit.show(sealed, response_id, with_content=True)

    assert [line["event_id"] for line in erased] == [e.event_id for e in events]  # the trail stays
    assert all(line["content"].startswith("erased") for line in erased)
    assert "still readable" not in json.dumps(erased)


async def test_export_writes_every_envelope_since_a_time_as_json_lines(sealed: JetStreamContext):
    before = await audit.export(sealed, datetime.now(UTC) - timedelta(days=1), io.StringIO())
    response_id, events = await _logged(sealed, text="never exported")
    out = io.StringIO()

    written = await audit.export(sealed, datetime.now(UTC) - timedelta(days=1), out)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(lines) == before + len(events)
    assert [line["event_id"] for line in lines if line["response_id"] == response_id] == [
        e.event_id for e in events
    ]
    assert "never exported" not in out.getvalue()
    assert await audit.export(sealed, datetime.now(UTC) + timedelta(days=1), io.StringIO()) == 0


def test_an_envelope_drops_every_content_field_and_says_where_it_was_logged():
    message = SimpleNamespace(
        data=json.dumps({"event_id": "evt_1", "type": "t", "payload": {"x": 1}, "request": "r"}).encode(),
        subject="resp.resp_1.state",
        metadata=SimpleNamespace(sequence=SimpleNamespace(stream=17)),
    )
    assert audit.envelope(message) == {
        "event_id": "evt_1",
        "type": "t",
        "subject": "resp.resp_1.state",
        "stream_seq": 17,
    }
    message.data = b"\xffnot json"
    assert audit.envelope(message) == {"unreadable": True, "subject": "resp.resp_1.state", "stream_seq": 17}


@pytest.fixture
def operator(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment an operator runs the CLI in: the log's address and the master key."""
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("GATEWAY_MASTER_KEY", base64.b64encode(MASTER.current).decode())


async def test_the_cli_says_when_a_response_has_no_events(
    sealed: JetStreamContext, operator: None, capsys: pytest.CaptureFixture[str]
):
    assert await audit.main(["show", "resp_never", "--no-content"]) == 1
    assert "no event of resp_never" in capsys.readouterr().err

    response_id, events = await _logged(sealed)
    assert await audit.main(["show", response_id, "--no-content"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event_id"] for line in printed] == [e.event_id for e in events]
    assert all("content" not in line for line in printed)


async def test_the_cli_shows_content_as_json(
    sealed: JetStreamContext, operator: None, capsys: pytest.CaptureFixture[str]
):
    response_id, _ = await _logged(sealed)
    assert await audit.main(["show", response_id]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["content"]["request"]["input"] == "Hello"


async def test_the_cli_shows_envelopes_alone_without_the_master_key(
    sealed: JetStreamContext,
    operator: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    response_id, events = await _logged(sealed)
    monkeypatch.delenv("GATEWAY_MASTER_KEY")
    assert await audit.main(["show", response_id]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("audit: content not shown: no master key")
    printed = [json.loads(line) for line in out.splitlines()]
    assert [line["event_id"] for line in printed] == [e.event_id for e in events]
    assert all("content" not in line for line in printed)


async def test_the_cli_erases_a_projects_keys_and_reports_it(
    sealed: JetStreamContext,
    operator: None,
    mongo_uri: str,
    db,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    project = f"project_{uuid.uuid4().hex[:8]}"
    response_id = f"resp_{uuid.uuid4().hex[:12]}"
    for event in lifecycle(response_id):
        await eventlog.append(sealed, event.model_copy(update={"tenant": project}))
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("MONGO_DB", db.name)

    assert await audit.main(["erase", "--project", project]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "project": project,
        "erased_keys": 1,
        "erased_responses": 0,
        "erased_conversations": 0,
    }
    assert await audit.main(["show", response_id]) == 0
    contents = [json.loads(line)["content"] for line in capsys.readouterr().out.splitlines()]
    assert "erased (the response's data key was destroyed)" in contents
    assert not any(isinstance(content, dict) for content in contents)

"""Background responses, cancel and resumable streams, through the openai SDK."""

import time

import httpx
import openai
import pytest

SLOW = {"content": "one two three four five six seven eight nine ten", "chunk_chars": 4, "delay_s": 0.15}


def wait_for_status(client: openai.OpenAI, response_id: str, wanted: set[str], timeout_s: float = 30.0):
    """Poll GET until the status is one of ``wanted`` (a bounded wait, not a timing assertion)."""
    seen = []
    for _ in range(int(timeout_s / 0.05)):
        response = client.responses.retrieve(response_id)
        if not seen or seen[-1] != response.status:
            seen.append(response.status)
        if response.status in wanted:
            return response, seen
        time.sleep(0.05)
    raise AssertionError(f"{response_id} stayed {seen[-1]} (went {seen}), never {wanted}")


def test_background_returns_queued_then_completes(client, mock_llm):
    mock_llm.script(SLOW)
    queued = client.responses.create(model="m1", input="later", background=True)
    assert queued.status == "queued" and queued.background is True and queued.output == []
    # read-your-writes: retrievable the moment POST returned
    assert client.responses.retrieve(queued.id).status in ("queued", "in_progress")
    done, seen = wait_for_status(client, queued.id, {"completed"})
    assert "in_progress" in seen
    assert done.output_text == SLOW["content"] and done.background is True


def test_background_requires_store(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="m1", input="x", background=True, store=False)
    assert err.value.body["param"] == "background"


def test_background_stream_starts_with_queued(client, mock_llm):
    mock_llm.script({"content": "streamed in the background"})
    events = list(client.responses.create(model="m1", input="x", background=True, stream=True))
    assert [e.type for e in events[:3]] == ["response.queued", "response.created", "response.in_progress"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "streamed in the background"


def test_stream_resumes_after_the_client_went_away(client, mock_llm):
    mock_llm.script(SLOW)
    first_part = []
    with client.responses.create(model="m1", input="x", background=True, stream=True) as stream:
        for event in stream:
            first_part.append(event)
            if event.type == "response.output_text.delta":
                break  # the client goes away mid-response
    last_seen = first_part[-1].sequence_number
    rest = list(client.responses.retrieve(first_part[0].response.id, stream=True, starting_after=last_seen))
    events = first_part + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == SLOW["content"] == events[-1].response.output_text

    # A finished response replays whole, from the log.
    replayed = list(client.responses.retrieve(events[0].response.id, stream=True))
    assert [e.model_dump() for e in replayed] == [e.model_dump() for e in events]


def test_cancel_stops_a_running_response(client, mock_llm):
    mock_llm.script({**SLOW, "content": "word " * 200, "chunk_chars": 5})
    queued = client.responses.create(model="m1", input="long job", background=True)
    wait_for_status(client, queued.id, {"in_progress"})
    cancelled = client.responses.cancel(queued.id)
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(queued.id).status == "cancelled"
    again = client.responses.cancel(queued.id)  # idempotent
    assert again.status == "cancelled"
    events = list(client.responses.retrieve(queued.id, stream=True))
    assert events[-1].type == "response.cancelled"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    streamed_text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert len(streamed_text) < len("word " * 200)  # it stopped early


def test_cancel_rules(client, client_b, mock_llm):
    foreground = client.responses.create(model="m1", input="sync")
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.cancel(foreground.id)
    assert "synchronous" in err.value.message

    finished = client.responses.create(model="m1", input="bg", background=True)
    wait_for_status(client, finished.id, {"completed"})
    assert client.responses.cancel(finished.id).status == "completed"  # too late: the outcome stands

    mock_llm.script(SLOW)
    running = client.responses.create(model="m1", input="bg", background=True)
    with pytest.raises(openai.NotFoundError):
        client_b.responses.cancel(running.id)
    assert client.responses.cancel(running.id).status == "cancelled"


def test_resume_is_owner_scoped(stack, client, client_b, mock_llm):
    created = client.responses.create(model="m1", input="mine", background=True)
    wait_for_status(client, created.id, {"completed"})
    with pytest.raises(openai.NotFoundError):
        list(client_b.responses.retrieve(created.id, stream=True))
    reply = httpx.get(
        f"{stack.api_url}/v1/responses/{created.id}",
        params={"stream": "true", "starting_after": "-5"},
        headers={"Authorization": f"Bearer {stack.key_a}"},
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "starting_after"


def test_only_responses_whose_deltas_were_logged_stream_again(client, mock_llm):
    plain = client.responses.create(model="m1", input="not streamed")
    with pytest.raises(openai.BadRequestError) as err:
        list(client.responses.retrieve(plain.id, stream=True))
    assert err.value.body["param"] == "stream"
    streamed = list(client.responses.create(model="m1", input="streamed", stream=True))
    replayed = list(client.responses.retrieve(streamed[0].response.id, stream=True))
    assert [e.model_dump() for e in replayed] == [e.model_dump() for e in streamed]


def test_a_foreground_stream_the_client_left_still_completes(client, mock_llm):
    """Leaving a foreground stream does not stop the response (only background ones can be
    cancelled): it runs to its end and stays retrievable, as a stored response does at OpenAI."""
    mock_llm.script(SLOW)
    with client.responses.create(model="m1", input="x", stream=True) as stream:
        first = next(iter(stream))
    # Mid-stream the store may not have projected it yet; read-your-writes holds at the end.
    for _ in range(300):
        try:
            client.responses.retrieve(first.response.id)
            break
        except openai.NotFoundError:
            time.sleep(0.05)
    done, _ = wait_for_status(client, first.response.id, {"completed"})
    assert done.output_text == SLOW["content"]


def test_only_a_foreground_non_stream_answer_is_asked_of_the_backend_whole(client, mock_llm):
    """Nobody watches its tokens; a stream's and a background response's (which can be streamed
    again, or cancelled half-way) are streamed from the backend."""
    whole = client.responses.create(model="m1", input="whole")
    streamed = list(client.responses.create(model="m1", input="streamed", stream=True))[-1].response
    queued = client.responses.create(model="m1", input="later", background=True)
    later, _ = wait_for_status(client, queued.id, {"completed"})
    assert [r.output_text for r in (whole, streamed, later)] == [
        "echo: whole",
        "echo: streamed",
        "echo: later",
    ]
    assert [r["body"]["stream"] for r in mock_llm.requests()] == [False, True, True]

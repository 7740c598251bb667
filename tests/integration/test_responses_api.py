"""The foundation, end to end: the openai SDK against the real services, NATS JetStream and the
Mongo-wire store, with only the chat backend scripted."""

import json

import httpx
import openai
import pytest
from openai.types.responses import Response

# Every field OpenAI's Response object carries (issue 2, item 7).
RESPONSE_FIELDS = {
    "id", "object", "created_at", "completed_at", "status", "model", "output", "usage", "instructions",
    "metadata", "temperature", "top_p", "max_output_tokens", "previous_response_id", "store", "text",
    "tool_choice", "tools", "truncation", "parallel_tool_calls", "presence_penalty", "frequency_penalty",
    "top_logprobs", "service_tier", "safety_identifier", "prompt_cache_key", "reasoning", "error",
    "incomplete_details", "background", "user",
}  # fmt: skip


def upstream_messages(mock_llm) -> list[list[dict]]:
    return [r["body"]["messages"] for r in mock_llm.requests()]


def test_plain_response_is_complete_and_retrievable(client, mock_llm):
    created = client.responses.create(
        model="m1", input="hello there", instructions="Be brief.", metadata={"team": "a"}, temperature=0.3
    )
    assert created.status == "completed"
    assert created.output_text == "echo: hello there"
    assert created.id.startswith("resp_")
    message = created.output[0]
    assert message.type == "message" and message.id.startswith("msg_") and message.status == "completed"
    assert message.content[0].annotations == [] and message.content[0].logprobs == []
    assert created.usage.total_tokens == created.usage.input_tokens + created.usage.output_tokens
    assert created.usage.input_tokens_details.cached_tokens == 0
    assert created.usage.output_tokens_details.reasoning_tokens == 0
    assert created.instructions == "Be brief." and created.metadata == {"team": "a"}
    assert created.temperature == 0.3 and created.store is True
    assert created.completed_at >= created.created_at

    raw = client.responses.with_raw_response.retrieve(created.id)
    body = json.loads(raw.text)
    assert body.keys() >= RESPONSE_FIELDS, RESPONSE_FIELDS - body.keys()
    Response.model_validate(body)
    assert Response.model_validate(body) == created  # GET returns what POST returned


def test_three_turn_chain_sends_whole_history_across_models(client, mock_llm):
    first = client.responses.create(model="m1", input="one", instructions="Only on turn one.")
    second = client.responses.create(
        model="m2", input="two", previous_response_id=first.id, max_output_tokens=50
    )
    third = client.responses.create(
        model="m1",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "three"}]}],
        previous_response_id=second.id,
        instructions="Turn three rules.",
    )
    assert third.output_text == "echo: three"
    sent = mock_llm.requests()
    assert [r["body"]["model"] for r in sent] == ["mock-1", "mock-2", "mock-1"]
    assert sent[0]["body"]["messages"] == [
        {"role": "system", "content": "Only on turn one."},
        {"role": "user", "content": "one"},
    ]
    assert sent[1]["body"]["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "echo: one"},
        {"role": "user", "content": "two"},
    ]
    # m2 is configured with max_tokens_param: max_completion_tokens
    assert sent[1]["body"]["max_completion_tokens"] == 50 and "max_tokens" not in sent[1]["body"]
    assert sent[2]["body"]["messages"][0] == {"role": "system", "content": "Turn three rules."}
    assert [m["role"] for m in sent[2]["body"]["messages"][1:]] == ["user", "assistant"] * 2 + ["user"]
    assert sent[2]["body"]["messages"][-1]["content"] in ("three", [{"type": "text", "text": "three"}])
    # Nobody watches a non-stream response's tokens: its answer is asked for whole.
    assert all(r["body"]["stream"] is False and "stream_options" not in r["body"] for r in sent)
    assert second.previous_response_id == first.id and second.instructions is None


def test_backend_key_reaches_backend_only(client, mock_llm):
    client.responses.create(model="m1", input="key?")
    client.responses.create(model="m2", input="no key")
    sent = mock_llm.requests()
    assert sent[0]["headers"].get("authorization") == "Bearer sk-backend-secret"
    assert "authorization" not in sent[1]["headers"]


def test_stream_emits_the_full_sequence(client, mock_llm):
    mock_llm.script({"content": "Hello streaming world", "chunk_chars": 5})
    events = list(client.responses.create(model="m1", input="hi", stream=True))
    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello streaming world" and len(deltas) >= 4
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.usage is None
    final = events[-1].response
    assert final.output_text == "Hello streaming world" and final.usage.output_tokens > 0
    # read-your-writes: once response.completed arrived, the response is retrievable
    assert client.responses.retrieve(final.id).output_text == "Hello streaming world"


def test_stream_event_lines_match_types(stack, mock_llm):
    with httpx.stream(
        "POST",
        f"{stack.api_url}/v1/responses",
        json={"model": "m1", "input": "lines", "stream": True},
        headers={"Authorization": f"Bearer {stack.key_a}"},
        timeout=30,
    ) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        frames = reply.read().decode().strip().split("\n\n")
    for frame in [f for f in frames if f != ": keep-alive"]:  # a slow machine may see a quiet spell
        event_line, data_line = frame.split("\n")
        assert event_line.removeprefix("event: ") == json.loads(data_line.removeprefix("data: "))["type"]


def test_a_long_prefill_keeps_the_stream_alive_with_comments(stack, client, mock_llm):
    """The backend sends nothing for a while after response.created (a long prompt being read): the
    stream carries SSE comments every STREAM_KEEPALIVE_S meanwhile, which clients skip."""
    quiet_s = 4 * stack.stream_keepalive_s
    mock_llm.script({"content": "late", "wait_s": quiet_s}, {"content": "late too", "wait_s": quiet_s})
    with httpx.stream(
        "POST",
        f"{stack.api_url}/v1/responses",
        json={"model": "m1", "input": "think long", "stream": True},
        headers={"Authorization": f"Bearer {stack.key_a}"},
        timeout=30,
    ) as reply:
        frames = reply.read().decode().strip().split("\n\n")
    comments = [i for i, f in enumerate(frames) if f == ": keep-alive"]
    events = [json.loads(f.split("\ndata: ")[1]) for f in frames if f.startswith("event: ")]
    assert len(comments) >= 2 and len(comments) + len(events) == len(frames)
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "late"
    # The SDK's own parser takes the comments in its stride.
    streamed = list(client.responses.create(model="m1", input="think long", stream=True))
    assert streamed[-1].type == "response.completed" and streamed[-1].response.output_text == "late too"


def test_backend_failure_fails_the_response(client, mock_llm):
    mock_llm.script({"status": 500, "error": {"message": "model exploded", "type": "server_error"}})
    failed = client.responses.create(model="m1", input="boom")
    assert failed.status == "failed"
    assert failed.error.code == "server_error" and "model exploded" in failed.error.message

    mock_llm.script({"status": 503, "error": {"message": "overloaded"}})
    events = list(client.responses.create(model="m1", input="boom", stream=True))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1].response.error.code == "server_error"
    assert client.responses.retrieve(events[-1].response.id).status == "failed"


def test_delete_then_everything_404s(client, mock_llm):
    created = client.responses.create(model="m1", input="to be deleted")
    deleted = client.responses.delete(created.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    for call in (
        lambda: client.responses.retrieve(created.id),
        lambda: client.responses.input_items.list(created.id),
        lambda: client.responses.delete(created.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="m1", input="again", previous_response_id=created.id)
    assert err.value.body["code"] == "previous_response_not_found"
    assert err.value.body["param"] == "previous_response_id"


def test_a_deleted_turn_leaves_the_history_of_later_turns_read_right_after(client, mock_llm):
    """Each turn continues the one answered a moment before (read from the log if the store has not
    projected it yet), and the translator holds the earlier turns it read: a deleted one must drop
    out of the next history all the same."""

    def user_turns() -> list[str]:
        return [m["content"] for m in upstream_messages(mock_llm)[-1] if m["role"] == "user"]

    turns = [client.responses.create(model="m1", input="turn 0")]
    for i in range(1, 4):
        previous = turns[-1].id
        turns.append(client.responses.create(model="m1", input=f"turn {i}", previous_response_id=previous))
    assert user_turns() == ["turn 0", "turn 1", "turn 2", "turn 3"]

    client.responses.delete(turns[1].id)
    client.responses.create(model="m1", input="turn 4", previous_response_id=turns[-1].id)
    assert user_turns() == ["turn 0", "turn 2", "turn 3", "turn 4"]


def test_input_items_paging(client, mock_llm):
    items = [{"role": "user", "content": f"item {i}"} for i in range(5)]
    created = client.responses.create(model="m1", input=items)
    page = client.responses.input_items.list(created.id, limit=2, order="asc")
    assert [i.content[0].text for i in page.data] == ["item 0", "item 1"]
    assert page.has_more is True and page.first_id == page.data[0].id and page.last_id == page.data[1].id
    rest = client.responses.input_items.list(created.id, limit=10, order="asc", after=page.last_id)
    assert [i.content[0].text for i in rest.data] == ["item 2", "item 3", "item 4"]
    assert rest.has_more is False
    newest_first = client.responses.input_items.list(created.id)
    assert [i.content[0].text for i in newest_first.data] == [f"item {i}" for i in reversed(range(5))]
    assert len({i.id for i in newest_first.data}) == 5
    all_items = list(client.responses.input_items.list(created.id, limit=2))  # the SDK follows the cursor
    assert len(all_items) == 5


def test_keys_are_isolated(client, client_b, mock_llm):
    mine = client.responses.create(model="m1", input="secret plans")
    with pytest.raises(openai.NotFoundError):
        client_b.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        client_b.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        client_b.responses.delete(mine.id)
    with pytest.raises(openai.BadRequestError):
        client_b.responses.create(model="m1", input="x", previous_response_id=mine.id)
    assert client.responses.retrieve(mine.id).output_text == "echo: secret plans"


def test_missing_or_wrong_key_is_401(stack):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        reply = httpx.post(
            f"{stack.api_url}/v1/responses", json={"model": "m1", "input": "x"}, headers=headers
        )
        assert reply.status_code == 401
        assert reply.json()["error"]["type"] == "authentication_error"


def test_store_false_is_neither_retrievable_nor_chainable(client, mock_llm):
    ephemeral = client.responses.create(model="m1", input="forget me", store=False)
    assert ephemeral.output_text == "echo: forget me" and ephemeral.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(ephemeral.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m1", input="x", previous_response_id=ephemeral.id)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"", None, "invalid_json"),
        (b'{"input": "hi"}', "model", "missing_required_parameter"),
        (b'{"model": "nope", "input": "hi"}', "model", "model_not_found"),
        (b'{"model": "m1", "input": "hi", "temperature": "hot"}', "temperature", "invalid_value"),
        (b'{"model": "m1", "input": "hi", "temperature": 7}', "temperature", "invalid_value"),
        (b'{"model": "m1", "input": [{"role": "wizard", "content": "x"}]}', "input[0].role", "invalid_value"),
        (b'{"model": "m1", "input": ""}', "input", "empty_input"),
        (b'{"model": "m1", "input": []}', "input", "empty_input"),
        (b'{"model": "m1", "input": "hi", "metadata": {"k": 1}}', "metadata.k", "invalid_value"),
        (b'[1, 2]', None, "invalid_value"),
        (b'{"model": "m1", "input": "hi", "previous_response_id": "resp_nope"}', "previous_response_id",
         "previous_response_not_found"),
    ],
)  # fmt: skip
def test_bad_input_is_an_openai_shaped_400(stack, body, param, code):
    reply = httpx.post(
        f"{stack.api_url}/v1/responses",
        content=body,
        headers={"Authorization": f"Bearer {stack.key_a}", "Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param


def test_oversize_body_is_rejected(stack):
    reply = httpx.post(
        f"{stack.api_url}/v1/responses",
        json={"model": "m1", "input": "x" * (stack.max_body_bytes + 10)},
        headers={"Authorization": f"Bearer {stack.key_a}"},
    )
    assert reply.status_code in (400, 413)
    assert reply.json()["error"]["code"] == "request_too_large"


def test_unknown_routes_and_ids_are_404(client, stack):
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_doesnotexist")
    reply = httpx.get(f"{stack.api_url}/v1/nothing-here", headers={"Authorization": f"Bearer {stack.key_a}"})
    assert reply.status_code == 404 and reply.json()["error"]["type"] == "invalid_request_error"


def test_models_and_health(client, stack):
    assert {m.id for m in client.models.list()} >= {"m1", "m2"}
    ready = httpx.get(f"{stack.api_url}/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "nats": True,
        "mongo": True,
        "translator": True,
        "worker": True,
        "store": True,
    }


def test_a_value_the_store_cannot_hold_is_refused_and_one_it_can_reaches_the_backend(client, mock_llm):
    with pytest.raises(openai.BadRequestError) as refused:  # BSON holds signed 64-bit integers at most
        client.responses.create(model="m1", input="big", extra_body={"vendor_seed": 10**30})
    assert refused.value.body["param"] == "vendor_seed"
    odd = client.responses.create(model="m1", input="big", extra_body={"vendor_seed": 2**63 - 1})
    assert mock_llm.requests()[-1]["body"]["vendor_seed"] == 2**63 - 1  # reached the backend untouched
    assert client.responses.retrieve(odd.id).output_text == "echo: big"


def test_fields_a_client_sends_are_implemented_ignored_or_refused_never_forwarded(client, mock_llm):
    """Codex sends client_metadata on every request; the SDK has parameters for OpenAI-only features.
    A strict backend refuses fields it does not know, so none of them may reach it."""
    ignored = {
        "client_metadata": {"session": "s1"},
        "prompt_cache_retention": "24h",
        "prompt_cache_options": {"ttl": "1h"},
        "background_options": {"priority": "low"},
    }
    assert client.responses.create(model="m1", input="hi", extra_body=ignored).status == "completed"
    assert not set(ignored) & set(mock_llm.requests()[-1]["body"])
    refused = {
        "prompt": {"id": "pmpt_1"},
        "context_management": [{"type": "compaction"}],
        "moderation": {"model": "omni-moderation-latest"},
    }
    for field, value in refused.items():
        with pytest.raises(openai.BadRequestError) as error:
            client.responses.create(model="m1", input="hi", extra_body={field: value})
        assert (error.value.code, error.value.param) == ("unsupported_parameter", field)
        assert "gateway" in error.value.message  # says who does not support it

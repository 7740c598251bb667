"""The local stack answers through the openai SDK, and the mock LLM behind it does what tests script."""

import json
import os
from pathlib import Path

import httpx
import openai
import pytest

from deploy.local.mock_llm import MockLLM
from deploy.local.stack import Stack, nats_env


def test_gateway_echoes_through_the_whole_stack(client, mock_llm: MockLLM):
    response = client.responses.create(model="m1", input="hi")

    assert response.output_text == "echo: hi"
    [upstream] = mock_llm.requests()
    assert upstream["body"]["model"] == "mock-1"
    assert upstream["headers"]["authorization"] == "Bearer sk-backend-secret"


def _chat(mock_url: str, **body) -> httpx.Response:
    messages = body.pop("messages", [{"role": "user", "content": "hello mock"}])
    return httpx.post(
        f"{mock_url}/v1/chat/completions", json={"model": "x", "messages": messages, **body}, timeout=10
    )


def _stream(mock_url: str, **body) -> list[dict]:
    """The parsed chunks of one streamed completion, after checking it ends with ``[DONE]``."""
    lines = [line for line in _chat(mock_url, stream=True, **body).text.split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def _streamed_text(chunks: list[dict], field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])


def test_mock_echoes_the_last_user_message_by_default(mock_url, mock_llm: MockLLM):
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "echo: first"},
        {"role": "user", "content": [{"type": "text", "text": "sec"}, {"type": "text", "text": "ond"}]},
    ]
    body = _chat(mock_url, messages=messages).json()

    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: second"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 4  # "first", "echo:", "first", "second"
    assert body["usage"]["total_tokens"] == 4 + body["usage"]["completion_tokens"]


def test_mock_streams_scripted_replies_in_order_then_falls_back_to_echo(mock_url, mock_llm: MockLLM):
    mock_llm.script(
        {"content": "Hello world", "reasoning": "think", "chunk_chars": 3},
        {"content": "second"},
    )
    first = _stream(mock_url, stream_options={"include_usage": True})

    assert first[0]["choices"][0]["delta"]["role"] == "assistant"
    assert _streamed_text(first, "reasoning_content") == "think"
    assert [c["choices"][0]["delta"]["content"] for c in first[3:7]] == ["Hel", "lo ", "wor", "ld"]
    assert first[-2]["choices"][0]["finish_reason"] == "stop"
    assert first[-1]["choices"] == [] and first[-1]["usage"]["completion_tokens"] == 3
    assert _streamed_text(_stream(mock_url), "content") == "second"
    assert _streamed_text(_stream(mock_url), "content") == "echo: hello mock"


def test_mock_streams_tool_call_arguments_in_pieces(mock_url, mock_llm: MockLLM):
    arguments = json.dumps({"city": "Paris", "unit": "c"})
    mock_llm.script(
        {"content": None, "tool_calls": [{"id": "call_1", "name": "weather", "arguments": arguments}]}
    )
    chunks = _stream(mock_url)

    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"][0]["delta"].get("tool_calls")
    ]
    assert len(calls) >= 2
    assert calls[0] | {"function": None} == {"index": 0, "id": "call_1", "type": "function", "function": None}
    assert calls[0]["function"]["name"] == "weather"
    assert all(c["index"] == 0 for c in calls)
    assert "".join(c["function"]["arguments"] for c in calls) == arguments
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in chunks[-1]  # not asked for with stream_options


def test_mock_answers_scripted_http_errors(mock_url, mock_llm: MockLLM):
    error = {"message": "slow down", "type": "rate_limit_error", "param": None, "code": "rate_limit"}
    mock_llm.script({"status": 429, "error": error}, {"status": 500})

    limited = _chat(mock_url, stream=True)
    assert limited.status_code == 429 and limited.json() == {"error": error}
    failed = _chat(mock_url)
    assert failed.status_code == 500 and failed.json()["error"]["message"]
    assert _chat(mock_url).status_code == 200


def test_mock_non_stream_carries_every_scripted_part(mock_url, mock_llm: MockLLM):
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    mock_llm.script(
        {
            "content": "no",
            "refusal": "I can't",
            "finish_reason": "content_filter",
            "usage": usage,
            "logprobs": True,
        }
    )
    [choice] = (body := _chat(mock_url).json())["choices"]

    assert choice["message"]["refusal"] == "I can't" and choice["message"]["content"] == "no"
    assert choice["finish_reason"] == "content_filter"
    assert choice["logprobs"]["content"][0]["token"] == "no"
    assert body["usage"] == usage


def test_mock_records_requests_until_reset(mock_url, mock_llm: MockLLM):
    mock_llm.script({"content": "queued"})
    httpx.post(
        f"{mock_url}/v1/chat/completions",
        json={"model": "x", "messages": []},
        headers={"Authorization": "Bearer sk-seen"},
    )
    [record] = mock_llm.requests()
    assert record["body"] == {"model": "x", "messages": []}
    assert record["headers"]["authorization"] == "Bearer sk-seen"

    mock_llm.script({"content": "dropped by reset"})
    mock_llm.reset()
    assert mock_llm.requests() == []
    assert _chat(mock_url).json()["choices"][0]["message"]["content"] == "echo: hello mock"


def test_mock_can_drop_the_connection_mid_stream(mock_url, mock_llm: MockLLM):
    mock_llm.script({"content": "a long answer that never ends", "abort_after": 2})

    with pytest.raises(httpx.HTTPError):
        _stream(mock_url)


def test_stack_survives_kills_restarts_and_replicas(tmp_path, mock_url, mock_llm: MockLLM):
    """The handles crash-safety tests rely on: each leaves a stack that answers again."""
    config = {"auth": "open", "models": [{"name": "m", "api_base": f"{mock_url}/v1", "model": "mock"}]}
    with Stack(tmp_path, config=lambda _: config, mock_url=mock_url, log_dir=tmp_path / "logs") as stack:
        stack.kill("worker")
        assert not stack.process("worker").alive
        assert stack.restart("worker").alive
        stack.restart("nats")
        stack.restart("mongo")
        replica = stack.add_replica("api")
        assert replica.name == "api-2" and replica.url != stack.api_url
        stack.wait_ready()

        for url in (stack.api_url, replica.url):
            with openai.OpenAI(base_url=f"{url}/v1", api_key="any", max_retries=0) as sdk:
                assert sdk.responses.create(model="m", input="still here").output_text == "echo: still here"
        pids = [p.pid for p in stack.processes.values()]

    assert not any(_running(pid) for pid in pids)


def test_the_stacks_nats_runs_on_one_scheduler_thread_with_a_tight_collector(stack):
    """nats-server shares the machine with the services: one Go scheduler thread halves its context
    switches (bench/README.md, ninth pass). An operator's own setting would win."""
    environ = set(Path(f"/proc/{stack.process('nats').pid}/environ").read_bytes().split(b"\0"))

    assert f"GOMAXPROCS={os.environ.get('GOMAXPROCS', '1')}".encode() in environ
    assert f"GOGC={os.environ.get('GOGC', '25')}".encode() in environ


def test_an_operators_own_go_settings_win_over_the_stacks():
    env = nats_env({"GOGC": "100", "GOMAXPROCS": "4", "PATH": "/bin"})

    assert env == {"GOGC": "100", "GOMAXPROCS": "4", "PATH": "/bin"}


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

"""The worker's side of the api's one-shot backend calls (services/worker/oneshots.py) against backends
served by httpx's MockTransport and a real pool: a count by the tokenizer of the deployment that would
serve (its key, the chat's tools), the estimate wherever that gives no count, and a completion folded
into its Response. Every failure comes back as a ``Refused`` reply; nothing raises to the caller."""

import json

import httpx
import pytest

from services.worker.deployments import Pool
from services.worker.failover import Backends
from services.worker.oneshots import OneShots
from shared.backend_calls import CompletionRequested, TokenCountRequested
from shared.config import GatewayConfig
from shared.domain import tokens
from tests.unit.worker.test_runs import answer, backend

TOKENIZE_URL = "http://counted/tokenize"
CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {
                "name": "counted",
                "api_base": "http://counted/v1",
                "model": "c-1",
                "tokenize_url": TOKENIZE_URL,
                "api_key_env": "TOKENIZER_KEY",
            },
            {"name": "plain", "api_base": "http://plain/v1", "model": "p-1"},
            {"name": "windowed", "api_base": "http://windowed/v1", "model": "w-1", "context_window": 30},
        ],
        "retry": {"attempts": 3, "backoff_s": 0},
    }
)
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
CHAT = {"messages": [{"role": "user", "content": "Hello there"}], "tools": [TOOL]}
TURNS = [{"role": "user", "content": f"turn {i} " + "x" * 40} for i in range(4)]


def _shots(*answers) -> tuple[OneShots, list[httpx.Request]]:
    client, seen = backend(*answers)
    return OneShots(Backends(Pool(CONFIG), client)), seen


async def _count(shots: OneShots, model: str, chat: dict = CHAT, *, truncate: bool = False) -> int:
    counted = await shots.count(TokenCountRequested(model=model, chat=chat, truncate=truncate))
    assert counted.refused is None
    return counted.input_tokens


async def test_a_tokenizer_counts_the_chat_with_its_tools_sent_with_the_deployments_key(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TOKENIZER_KEY", "sk-tokenizer")
    shots, seen = _shots(lambda _: httpx.Response(200, json={"count": 4242}))
    assert await _count(shots, "counted") == 4242
    [request] = seen
    assert str(request.url) == TOKENIZE_URL
    assert request.headers["authorization"] == "Bearer sk-tokenizer"
    assert json.loads(request.content) == {"model": "c-1", "messages": CHAT["messages"], "tools": [TOOL]}


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(500, json={"error": "down"}),
        httpx.Response(200, json={"tokens": [1, 2]}),
        httpx.Response(200, content=b"not json"),
    ],
    ids=["error", "no count", "not json"],
)
async def test_a_tokenizer_that_gives_no_count_leaves_the_estimate(reply: httpx.Response):
    shots, seen = _shots(lambda _: reply)
    assert await _count(shots, "counted") == tokens.estimate_chat(CHAT)
    assert [str(r.url) for r in seen] == [TOKENIZE_URL]


async def test_a_deployment_without_a_tokenizer_is_estimated_without_a_call():
    shots, seen = _shots(lambda _: httpx.Response(200, json={"count": 4242}))
    assert await _count(shots, "plain") == tokens.estimate_chat(CHAT)
    assert seen == []


async def test_a_truncating_count_is_of_the_chat_fitted_to_the_serving_deployments_window():
    shots, _ = _shots()
    whole = await _count(shots, "windowed", {"messages": TURNS})
    fitted = await _count(shots, "windowed", {"messages": TURNS}, truncate=True)
    assert whole == tokens.estimate_chat({"messages": TURNS})
    assert fitted == tokens.estimate_chat({"messages": TURNS[-1:]}) < whole


async def test_an_unknown_model_is_a_refused_reply_on_either_call():
    shots, seen = _shots()
    counted = await shots.count(TokenCountRequested(model="nope", chat=CHAT))
    done = await shots.complete(CompletionRequested(model="nope", chat=CHAT, response_id="resp_1"))
    for refused in (counted.refused, done.refused):
        assert refused is not None and refused.status == 400
        assert (refused.error["code"], refused.error["param"]) == ("model_not_found", "model")
    assert done.response is None and seen == []


async def test_a_completion_is_the_response_its_stream_folds_into():
    shots, seen = _shots(answer("Hel", "lo"))
    done = await shots.complete(
        CompletionRequested(model="plain", chat={"messages": TURNS}, response_id="resp_1")
    )
    assert done.refused is None and done.response is not None
    assert (done.response["id"], done.response["status"]) == ("resp_1", "completed")
    [message] = done.response["output"]
    assert message["content"][0]["text"] == "Hello"
    [request] = seen
    assert str(request.url) == "http://plain/v1/chat/completions"
    sent = json.loads(request.content)
    assert (sent["model"], sent["messages"]) == ("p-1", TURNS)


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (httpx.Response(500, json={"error": {"message": "boom"}}), "boom"),
        (httpx.Response(200, content=b'data: {"choices": [\n\n'), "could not be read"),
    ],
    ids=["backend error", "unreadable stream"],
)
async def test_a_completion_that_fails_is_a_refused_reply_never_an_exception(
    reply: httpx.Response, said: str
):
    shots, _ = _shots(lambda _: reply)
    done = await shots.complete(CompletionRequested(model="plain", chat=CHAT, response_id="resp_1"))
    assert done.response is None and done.refused is not None
    assert done.refused.status == 502
    assert said in done.refused.error["message"]

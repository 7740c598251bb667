"""Failover against backends served by httpx's MockTransport: a try that fails before its first chunk
goes on to the next deployment, which gets the chat fitted to its own window; a one-shot call routes
(and is refused) as a response's run does (the rest of one-shots: test_oneshots.py)."""

import json

import httpx
import pytest

from services.worker.deployments import Pool
from services.worker.failover import Backends
from services.worker.oneshots import OneShots
from shared.backend_calls import CompletionRequested, TokenCountRequested
from shared.config import GatewayConfig
from tests.unit.worker.test_runs import answer, backend, overloaded

CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {
                "name": "m",
                "api_base": "http://wide/v1",
                "model": "wide",
                "id": "wide",
                "context_window": 1000,
            },
            {
                "name": "m",
                "api_base": "http://narrow/v1",
                "model": "narrow",
                "id": "narrow",
                "context_window": 30,
                "weight": 0,
                "tokenize_url": "http://narrow/tokenize",
            },
        ],
        "retry": {"attempts": 3, "backoff_s": 0},
    }
)
TURNS = [{"role": "user", "content": f"turn {i} " + "x" * 40} for i in range(4)]


async def test_a_failed_try_goes_to_the_next_deployment_with_the_chat_fitted_to_it():
    client, seen = backend(overloaded, answer("ok"))
    attempt = Backends(Pool(CONFIG), client).attempt(model="m", chat={"messages": TURNS}, truncate=True)
    chunks = [chunk async for chunk in attempt.chunks()]
    assert [r.url.host for r in seen] == ["wide", "narrow"]
    assert json.loads(seen[0].content)["messages"] == TURNS
    assert json.loads(seen[1].content)["messages"] == TURNS[-1:]
    assert attempt.deployment is not None and attempt.deployment.id == "narrow"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_refusals_come_back_as_replies_with_their_http_answer():
    client, _ = backend(lambda _: httpx.Response(400, json={"error": {"message": "maximum context length"}}))
    shots = OneShots(Backends(Pool(CONFIG), client))
    done = await shots.complete(
        CompletionRequested(model="m", chat={"messages": TURNS}, response_id="resp_1")
    )
    assert done.refused is not None and done.refused.status == 400
    assert done.refused.error["code"] == "context_length_exceeded"
    unknown = await shots.count(TokenCountRequested(model="nope", chat={"messages": TURNS}))
    assert unknown.refused is not None and unknown.refused.error["code"] == "model_not_found"


@pytest.mark.parametrize(("reply", "expected"), [({"count": 7}, 7), ({"nothing": 1}, None)])
async def test_a_count_uses_the_tokenizer_of_the_deployment_it_would_route_to(reply, expected):
    # `wide` is cooling down, so the plan starts at `narrow`, whose tokenizer counts its fitted chat.
    client, seen = backend(lambda _: httpx.Response(200, json=reply))
    pool = Pool(CONFIG.model_copy(update={"cooldown": CONFIG.cooldown.model_copy(update={"failures": 1})}))
    pool.failed(CONFIG.models[0], "503")
    counted = await OneShots(Backends(pool, client)).count(
        TokenCountRequested(model="m", chat={"messages": TURNS}, truncate=True)
    )
    [tokenize] = seen
    assert str(tokenize.url) == "http://narrow/tokenize"
    assert json.loads(tokenize.content)["messages"] == TURNS[-1:]
    estimate = 3 + 4 + -(-len(TURNS[-1]["content"]) // 4)  # the estimate when the tokenizer fails
    assert counted.input_tokens == (estimate if expected is None else expected)

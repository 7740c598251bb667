"""``POST /v1/responses/input_tokens`` (services/api/routes/input_tokens.py): a count of what a request
would send, by the deployment's tokenizer where the config names one and by estimate otherwise (also
when the tokenizer fails: a count is advice). Requests without a chain, so no server is needed."""

import functools
import json
from types import SimpleNamespace

import httpx
import pytest

from services.api.routes import input_tokens
from shared.config import GatewayConfig

from . import gateways

TOKENIZE_URL = "http://tokenizer/tokenize"
CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {"name": "plain", "api_base": "http://a/v1", "model": "p-1"},
            {
                "name": "counted",
                "api_base": "http://b/v1",
                "model": "c-1",
                "tokenize_url": TOKENIZE_URL,
                "api_key_env": "BACKEND_KEY",
            },
        ],
        "api_keys": [{"key_env": "KEY_A", "project": "team-a"}],
    }
)
APP = gateways.app(gateways.gateway(CONFIG, {"KEY_A": "sk-a"}), input_tokens.router)


async def _count(body: dict) -> httpx.Response:
    async with gateways.client(APP, "sk-a") as client:
        return await client.post("/v1/responses/input_tokens", json=body)


@pytest.fixture
def tokenizer(monkeypatch: pytest.MonkeyPatch):
    """The deployment's tokenize endpoint: answers with ``answer(request)``, and records each request."""
    seen: list[httpx.Request] = []
    state = SimpleNamespace(seen=seen, answer=lambda request: httpx.Response(200, json={"count": 4242}))

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return state.answer(request)

    client = functools.partial(httpx.AsyncClient, transport=httpx.MockTransport(handle))
    monkeypatch.setattr(input_tokens, "httpx", SimpleNamespace(AsyncClient=client, HTTPError=httpx.HTTPError))
    monkeypatch.setenv("BACKEND_KEY", "sk-backend")
    return state


async def test_an_estimate_grows_with_the_input():
    short = await _count({"model": "plain", "input": "Hello"})
    long = await _count({"model": "plain", "input": "Hello " * 500})
    assert short.status_code == long.status_code == 200
    assert short.json()["object"] == "response.input_tokens"
    assert 0 < short.json()["input_tokens"] < long.json()["input_tokens"]


async def test_instructions_and_tools_are_counted_too():
    bare = (await _count({"model": "plain", "input": "Hi"})).json()["input_tokens"]
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
    with_tools = (await _count({"model": "plain", "input": "Hi", "tools": [tool]})).json()["input_tokens"]
    instructed = (await _count({"model": "plain", "input": "Hi", "instructions": "Be terse " * 20})).json()
    assert with_tools > bare
    assert instructed["input_tokens"] > bare


async def test_the_model_is_optional():
    with_model = (await _count({"model": "plain", "input": "Hello there"})).json()
    without = await _count({"input": "Hello there"})
    assert without.status_code == 200
    assert without.json() == with_model


async def test_an_unknown_model_is_model_not_found():
    reply = await _count({"model": "nope", "input": "Hi"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "model_not_found"
    assert reply.json()["error"]["param"] == "model"


async def test_a_bad_request_is_refused_naming_the_parameter():
    reply = await _count({"model": "plain", "input": "Hi", "tools": [{"type": "function"}]})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"].startswith("tools[0]")


async def test_a_deployment_with_a_tokenizer_is_counted_by_it_with_its_key(tokenizer):
    reply = await _count({"model": "counted", "input": "Hello"})
    assert reply.json()["input_tokens"] == 4242
    (request,) = tokenizer.seen
    assert str(request.url) == TOKENIZE_URL
    assert request.headers["authorization"] == "Bearer sk-backend"
    sent = json.loads(request.content)
    assert sent["model"] == "c-1"
    assert sent["messages"][-1]["content"] == "Hello"


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(500, json={"error": "down"}),
        lambda r: httpx.Response(200, json={"tokens": [1, 2]}),
        lambda r: httpx.Response(200, content=b"not json"),
    ],
    ids=["error", "no count", "not json"],
)
async def test_a_failing_tokenizer_falls_back_to_the_estimate(tokenizer, answer):
    tokenizer.answer = answer
    counted = (await _count({"model": "counted", "input": "Hello there"})).json()
    estimated = (await _count({"model": "plain", "input": "Hello there"})).json()
    assert tokenizer.seen
    assert counted == estimated


async def test_a_deployment_without_a_tokenizer_never_calls_one(tokenizer):
    await _count({"model": "plain", "input": "Hello"})
    assert tokenizer.seen == []

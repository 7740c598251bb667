"""``POST /v1/responses/input_tokens`` (services/api/routes/input_tokens.py): a count of what a request
would send. Where the count depends on the deployment (a tokenizer, or a window to fit with
``truncation: "auto"``) the api asks the worker (``shared/backend_calls.py``; the worker's side is
tests/unit/worker/test_oneshots.py); otherwise it answers with the estimate itself, never reaching for
NATS. Requests without a chain, so no server is needed."""

import httpx
import pytest

from services.api.routes import input_tokens
from shared import backend_calls, subjects
from shared.backend_calls import TokenCountRequested, TokensCounted
from shared.config import GatewayConfig
from tests.unit.shared.test_backend_calls import Connection

from . import gateways

CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {"name": "plain", "api_base": "http://a/v1", "model": "p-1"},
            {
                "name": "counted",
                "api_base": "http://b/v1",
                "model": "c-1",
                "tokenize_url": "http://b/tokenize",
            },
            {"name": "windowed", "api_base": "http://c/v1", "model": "w-1", "context_window": 1000},
        ],
        "api_keys": [{"key_env": "KEY_A", "project": "team-a"}],
    }
)
WORKER_COUNT = 4242
# The estimate is the api's own: a request that reached for the worker here fails with a 500.
APP = gateways.app(gateways.gateway(CONFIG, {"KEY_A": "sk-a"}, nc=gateways.NoDatabase()), input_tokens.router)


@pytest.fixture
def worker() -> Connection:
    """A worker answering every count with ``WORKER_COUNT``; ``sent`` holds what it was asked."""
    return Connection(TokensCounted(input_tokens=WORKER_COUNT).model_dump_json().encode())


async def _count(body: dict, worker: Connection | None = None) -> httpx.Response:
    application = APP
    if worker is not None:
        gateway = gateways.gateway(CONFIG, {"KEY_A": "sk-a"}, nc=worker)
        application = gateways.app(gateway, input_tokens.router)
    async with gateways.client(application, "sk-a") as client:
        return await client.post("/v1/responses/input_tokens", json=body)


def _asked(worker: Connection) -> TokenCountRequested:
    [(subject, data, headers, _)] = worker.sent
    assert subject == subjects.BACKEND_COUNT
    return backend_calls.decode(data, headers, TokenCountRequested)


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


async def test_a_model_with_a_tokenizer_is_counted_by_the_worker(worker: Connection):
    reply = await _count({"model": "counted", "input": "Hello", "instructions": "Be terse"}, worker)
    assert reply.status_code == 200
    assert reply.json() == {"object": "response.input_tokens", "input_tokens": WORKER_COUNT}
    asked = _asked(worker)
    assert (asked.model, asked.truncate) == ("counted", False)
    assert [m["content"] for m in asked.chat["messages"]] == ["Be terse", "Hello"]


async def test_a_window_to_fit_is_counted_by_the_worker_only_when_truncating(worker: Connection):
    estimated = (await _count({"model": "plain", "input": "Hello"})).json()
    disabled = await _count({"model": "windowed", "input": "Hello"}, worker)
    assert disabled.json() == estimated
    assert worker.sent == []
    auto = await _count({"model": "windowed", "input": "Hello", "truncation": "auto"}, worker)
    assert auto.json()["input_tokens"] == WORKER_COUNT
    assert _asked(worker).truncate is True


async def test_truncating_without_a_window_or_a_tokenizer_is_still_estimated():
    reply = await _count({"model": "plain", "input": "Hello", "truncation": "auto"})
    assert reply.status_code == 200
    assert reply.json() == (await _count({"model": "plain", "input": "Hello"})).json()

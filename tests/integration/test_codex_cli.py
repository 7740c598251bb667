"""The real Codex CLI (``@openai/codex`` from npm) through the gateway, as a user configures it: a custom
provider with ``wire_api = "responses"``. ``codex exec`` runs one task whose tool loop the mock LLM
scripts: the model reasons and asks for a shell command, Codex runs it and sends the output back
(``store: false``: the whole conversation each time, its reasoning items with the gateway's
``encrypted_content``), the model answers. ``exec resume`` continues from the blobs alone, and the
model's call of a tool in Codex's ``multi_agent_v1`` namespace reaches Codex's own handler.

The CLI is installed once into a cache directory (``CODEX_CACHE_DIR``, default
``~/.cache/responses-gateway/codex``); the test is skipped, saying why, only when npm is missing or
the registry cannot be reached.
"""

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local.mock_llm import MockLLM
from deploy.local.stack import Stack
from shared import reasoning_blobs

from .stacks import module_stack, until

# The version this test was written against; CODEX_VERSION tries another.
CODEX_VERSION = os.environ.get("CODEX_VERSION", "0.171.0")
CACHE_DIR = Path(os.environ.get("CODEX_CACHE_DIR", Path.home() / ".cache" / "responses-gateway" / "codex"))
KEY, ADMIN_KEY = "sk-codex-user", "sk-codex-admin"
# npm's words for a registry it cannot reach: the only install failure that skips rather than fails.
_UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH")
REASONING = "The user wants the answer of a command; I will run it first."
# The command's output is not in its text: only a shell that ran it prints it.
COMMAND = "echo codex-tool-ran-$((6*7))"
RAN = "codex-tool-ran-42"
ANSWER = "The command printed codex-tool-ran-42. DONE"


def _config(mock_url: str) -> dict:
    model = {"name": "m1", "api_base": f"{mock_url}/v1", "model": "mock-1"}
    keys = [
        {"key_env": "CODEX_KEY", "project": "codex"},
        {"key_env": "CODEX_ADMIN", "project": "ops", "admin": True},
    ]
    # The reasoning a stateless client hands back reaches the model again only where replay is on.
    return {"models": [model], "api_keys": keys, "replay_reasoning": True}


@pytest.fixture(scope="module")
def codex() -> Path:
    """The ``codex`` launcher, installed from npm into the cache directory on first use."""
    launcher = CACHE_DIR / CODEX_VERSION / "node_modules" / ".bin" / "codex"
    if launcher.exists():
        return launcher
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install @openai/codex")
    target = launcher.parents[2]
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(target),
            "--no-audit",
            "--no-fund",
            f"@openai/codex@{CODEX_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 and any(code in done.stderr for code in _UNREACHABLE):
        pytest.skip(
            f"the npm registry is unreachable, @openai/codex not installed: {done.stderr.strip()[-300:]}"
        )
    assert done.returncode == 0, f"npm install @openai/codex failed:\n{done.stderr[-2000:]}"
    assert launcher.exists(), f"npm installed no codex launcher at {launcher}"
    return launcher


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    env = {"CODEX_KEY": KEY, "CODEX_ADMIN": ADMIN_KEY}
    with module_stack(tmp_path_factory, mock_url, "codex", config=_config, env=env) as running:
        yield running


def _codex_home(home: Path, api_url: str, summary: str) -> dict[str, str]:
    """A Codex home of its own, its config naming the gateway as a Responses provider; the env to run in."""
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(
        f"""
model = "m1"
model_provider = "gateway"
model_reasoning_summary = "{summary}"
# A hosted tool, which the gateway's built-in tools handle or refuse by their own config; this test
# is about Codex's function tools.
web_search = "disabled"

[model_providers.gateway]
name = "responses-gateway"
base_url = "{api_url}/v1"
wire_api = "responses"
env_key = "GATEWAY_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"""
    )
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "GATEWAY_API_KEY": KEY,
        "NO_COLOR": "1",
    }


def _codex(codex: Path, workdir: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``codex exec ARGS...`` in ``workdir``: its exit status, last message, and whole output."""
    last = workdir / "last-message.txt"
    last.unlink(missing_ok=True)
    done = subprocess.run(
        [
            str(codex),
            "exec",
            "--skip-git-repo-check",
            # The scripted command is harmless, and a container may have no user namespaces to sandbox.
            "--dangerously-bypass-approvals-and-sandbox",
            "--output-last-message",
            str(last),
            *args,
        ],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = f"exit {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    return done.returncode, (last.read_text() if last.exists() else ""), output


def _run_codex(codex: Path, workdir: Path, env: dict[str, str], *args: str) -> tuple[str, str]:
    """``codex exec ARGS...``, which must succeed: its last message and its whole output."""
    status, last, output = _codex(codex, workdir, env, *args)
    assert status == 0, output
    return last, output


def _chats(mock_llm: MockLLM) -> list[dict]:
    return [r["body"] for r in mock_llm.requests() if r["path"] == "/v1/chat/completions"]


def _rollout(env: dict[str, str]) -> Path:
    """The session file Codex keeps of its run (every item, reasoning items with their blobs)."""
    (path,) = Path(env["CODEX_HOME"]).glob("sessions/**/rollout-*.jsonl")
    return path


def _reasoning_items(rollout: Path) -> list[dict]:
    lines = [json.loads(line) for line in rollout.read_text().splitlines() if line.strip()]
    payloads = [line.get("payload") or {} for line in lines]
    return [p for p in payloads if p.get("type") == "reasoning"]


def _rewrite_reasoning(rollout: Path, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to every reasoning item of the session file, as if Codex had held them so."""
    lines = [json.loads(line) for line in rollout.read_text().splitlines() if line.strip()]
    for line in lines:
        if (line.get("payload") or {}).get("type") == "reasoning":
            change(line["payload"])
    rollout.write_text("".join(json.dumps(line) + "\n" for line in lines))


# "auto" (Codex's default): the reasoning also comes as summary events, which Codex shows. "none": no
# summary, and Codex shows no reasoning.
@pytest.mark.parametrize("summary", ["auto", "none"])
def test_codex_exec_runs_a_tool_loop_through_the_gateway(
    codex: Path, stack: Stack, mock_llm: MockLLM, tmp_path: Path, summary: str
) -> None:
    call = {"id": "call_shell_1", "name": "exec_command", "arguments": json.dumps({"cmd": COMMAND})}
    before = _requests_of(stack, "codex")
    mock_llm.script(
        {"reasoning": REASONING, "tool_calls": [call]},
        {"reasoning": "It printed the marker.", "content": ANSWER},
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = _codex_home(tmp_path / "home", stack.api_url, summary)
    last, output = _run_codex(codex, workdir, env, "Run the check.")

    assert ANSWER in last, output
    # Codex shows a reasoning summary, and only one: the summary events carry it, not the raw text.
    assert (REASONING in output) == (summary == "auto"), output
    chats = _chats(mock_llm)
    assert len(chats) == 2, output
    first, second = chats
    # Codex's namespace tool (its sub-agents) is offered as plain functions; its fields for OpenAI
    # alone (client_metadata, include, store) reach no backend.
    offered = {tool["function"]["name"] for tool in first["tools"]}
    assert {"exec_command", "multi_agent_v1__spawn_agent"} <= offered
    assert not {"client_metadata", "include", "store", "reasoning"} & set(first)
    # The second turn: Codex ran the command, and its reasoning came back sealed and was restored.
    (tool_message,) = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_message["tool_call_id"] == "call_shell_1"
    assert RAN in tool_message["content"]
    (calling,) = [m for m in second["messages"] if m.get("tool_calls")]
    assert calling["tool_calls"][0]["function"]["name"] == "exec_command"
    assert calling["reasoning_content"] == REASONING
    # Codex keeps the gateway's sealed reasoning (it would keep OpenAI's) to hand back.
    blobs = [item["encrypted_content"] for item in _reasoning_items(_rollout(env))]
    assert blobs and all(blob.startswith(reasoning_blobs.PREFIX + ":") for blob in blobs), blobs
    # The gateway ran and accounted both turns (store: false keeps no retrievable response).
    until(lambda: _requests_of(stack, "codex") >= before + 2, "both turns accounted", timeout_s=30)
    assert _requests_of(stack, "codex") == before + 2
    assert _usage_row(stack, "codex")["errors"] == 0


def _usage_row(stack: Stack, project: str) -> dict:
    usage = httpx.get(
        f"{stack.api_url}/v1/admin/usage",
        params={"group_by": "project", "since": "0"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=30,
    )
    usage.raise_for_status()
    return next(
        (row for row in usage.json()["data"] if row["project"] == project), {"requests": 0, "errors": 0}
    )


def _requests_of(stack: Stack, project: str) -> int:
    return _usage_row(stack, project)["requests"]


def test_codex_resumed_from_its_sealed_reasoning_alone(
    codex: Path, stack: Stack, mock_llm: MockLLM, tmp_path: Path
) -> None:
    """``codex exec resume``: a stateless client's next turn. With the raw reasoning taken out of the
    session file, only the blob can give the model its earlier reasoning; an altered blob is refused."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = _codex_home(tmp_path / "home", stack.api_url, "none")
    mock_llm.script({"reasoning": REASONING, "content": "First answer."})
    _run_codex(codex, workdir, env, "First question.")
    rollout = _rollout(env)
    _rewrite_reasoning(rollout, lambda item: item.update(content=None, summary=[]))

    mock_llm.reset()
    mock_llm.script({"content": "Second answer."})
    last, output = _run_codex(codex, workdir, env, "resume", "--last", "Second question.")
    assert "Second answer." in last, output
    (chat,) = _chats(mock_llm)
    (earlier,) = [m for m in chat["messages"] if m["role"] == "assistant"]
    assert earlier["content"] == "First answer."
    assert earlier["reasoning_content"] == REASONING  # restored from the blob: nothing else held it

    def tamper(item: dict) -> None:
        blob = item["encrypted_content"]
        item["encrypted_content"] = blob[:-6] + ("AAAA==" if not blob.endswith("AAAA==") else "BBBB==")

    _rewrite_reasoning(rollout, tamper)
    mock_llm.reset()
    status, _, output = _codex(codex, workdir, env, "resume", "--last", "Third question.")
    assert status != 0 and "could not be verified" in output, output
    assert _chats(mock_llm) == []  # refused before any backend was asked


def test_codex_runs_the_namespace_tool_the_model_called(
    codex: Path, stack: Stack, mock_llm: MockLLM, tmp_path: Path
) -> None:
    """The model calls ``multi_agent_v1__wait_agent``, the name the backend was offered; Codex gets a
    call of ``wait_agent`` in namespace ``multi_agent_v1`` and runs its own handler (which refuses the
    made-up agent id), rather than answering "unsupported call"."""
    arguments = json.dumps({"targets": ["no-such-agent"], "timeout_ms": 10})
    call = {"id": "call_ns_1", "name": "multi_agent_v1__wait_agent", "arguments": arguments}
    mock_llm.script({"tool_calls": [call]}, {"content": ANSWER})
    workdir = tmp_path / "work"
    workdir.mkdir()
    last, output = _run_codex(codex, workdir, _codex_home(tmp_path / "home", stack.api_url, "none"), "Wait.")
    assert ANSWER in last, output
    (_, second) = _chats(mock_llm)
    (tool_message,) = [m for m in second["messages"] if m["role"] == "tool"]
    assert "invalid agent id" in tool_message["content"], tool_message
    # Handed back with its namespace, the call reaches the backend under the name it was offered as.
    (calling,) = [m for m in second["messages"] if m.get("tool_calls")]
    assert calling["tool_calls"][0]["function"]["name"] == "multi_agent_v1__wait_agent"

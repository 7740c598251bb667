"""LiteLLM's proxy as the bench's point of comparison: its own cached venv, a config that bridges
``/v1/responses`` to the mock's Chat Completions, one worker, prices zeroed; without a database
(``litellm``), or with PostgreSQL (``litellm-db``), the setup in which its ``previous_response_id``
works: it rebuilds a conversation from the prompts its spend logs keep."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from deploy.local.processes import Process, StackError, free_port, http_ok

BENCH_DIR = Path(__file__).resolve().parent
VENV = BENCH_DIR / ".litellm-venv"
REQUIREMENT = "litellm[proxy]==1.106.*"
# LiteLLM talks to its database through Prisma's Python client, generated from LiteLLM's schema.
DB_REQUIREMENT = "prisma==0.15.*"
_GENERATE_TIMEOUT_S = 600
HOST = "127.0.0.1"
_INSTALL_TIMEOUT_S = 900
_READY_TIMEOUT_S = 120.0


def proxy_config(model: str, api_base: str, master_key: str, *, database: bool = False) -> dict[str, Any]:
    """Pure: the proxy config serving ``model`` from the Chat Completions endpoint at ``api_base``.

    LiteLLM refuses to start without a master key; with no database it is checked in memory. With
    ``database`` (its URL in the environment) the spend logs keep each request's messages, which
    its ``previous_response_id`` reads back."""
    general: dict[str, Any] = {"master_key": master_key}
    if database:
        general["store_prompts_in_spend_logs"] = True
    return {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {
                    "model": f"openai/{model}",
                    "api_base": api_base,
                    "api_key": "x",
                    "use_chat_completions_api": True,
                },
                "model_info": {"input_cost_per_token": 0, "output_cost_per_token": 0},
            }
        ],
        "litellm_settings": {"telemetry": False},
        "general_settings": general,
    }


def ensure_venv(log: Path) -> Path:
    """The ``litellm`` executable of the bench's own venv, installing it on first use."""
    executable = VENV / "bin" / "litellm"
    marker = VENV / ".installed"
    if executable.exists() and marker.exists() and marker.read_text() == REQUIREMENT:
        return executable
    print(f"installing {REQUIREMENT} into {VENV} (once; cached afterwards)…", file=sys.stderr, flush=True)
    with log.open("ab") as out:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out, stderr=out)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", REQUIREMENT]
        subprocess.run(pip, check=True, stdout=out, stderr=out, timeout=_INSTALL_TIMEOUT_S)
    marker.write_text(REQUIREMENT)
    return executable


def ensure_database_client(log: Path) -> None:
    """Prisma's client generated for LiteLLM's schema in the venv, once. ``prisma generate`` fetches
    the Prisma CLI from npm and then Prisma's engines (query and schema engine binaries) from
    binaries.prisma.sh: where that host cannot be reached this raises ``StackError`` saying so."""
    marker = VENV / ".prisma-generated"
    if marker.exists() and marker.read_text() == DB_REQUIREMENT:
        return
    python = str(VENV / "bin" / "python")
    schema = _site_packages() / "litellm" / "proxy" / "schema.prisma"
    with log.open("ab") as out:
        pip = [python, "-m", "pip", "install", "--quiet", DB_REQUIREMENT]
        subprocess.run(pip, check=True, stdout=out, stderr=out, timeout=_INSTALL_TIMEOUT_S)
    generate = [str(VENV / "bin" / "prisma"), "generate", "--schema", str(schema)]
    done = subprocess.run(generate, capture_output=True, text=True, timeout=_GENERATE_TIMEOUT_S)
    with log.open("a") as out:
        out.write(done.stdout + done.stderr)
    if done.returncode != 0:
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"prisma generate failed (LiteLLM's database client): {last[0][:300]}")
    marker.write_text(DB_REQUIREMENT)


def _site_packages() -> Path:
    return next((VENV / "lib").glob("python3*/site-packages"))


def version() -> str:
    probe = [
        str(VENV / "bin" / "python"),
        "-c",
        "import importlib.metadata as m; print(m.version('litellm'))",
    ]
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def start(
    model: str, api_base: str, master_key: str, work_dir: Path, *, database_url: str | None = None
) -> Process:
    """Start the proxy on a free port and wait until it answers; ``Process.url`` is its base URL.
    ``database_url`` (PostgreSQL) gives it its database, whose schema it migrates at start; its
    client must be generated first (``ensure_database_client``)."""
    executable = ensure_venv(work_dir / "litellm-install.log")
    name = "litellm" if database_url is None else "litellm-db"
    config_path = work_dir / f"{name}.yaml"
    config = proxy_config(model, api_base, master_key, database=database_url is not None)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [str(executable), "--config", str(config_path), "--host", HOST, "--port", str(port)]
    argv += ["--num_workers", "1"]
    # Without DATABASE_URL: no spend logs, no keys, nothing but the proxy itself.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env |= {"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "NO_DOCS": "True"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    url = f"http://{HOST}:{port}"
    ready = http_ok(f"{url}/health/liveliness")
    process = Process(name, argv, env, work_dir / f"{name}.log", url=url, ready=ready)
    return process.start().wait_ready(_READY_TIMEOUT_S)

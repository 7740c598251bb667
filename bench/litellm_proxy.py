"""LiteLLM's proxy as the bench's point of comparison: its own cached venv, a config that bridges
``/v1/responses`` to the mock's Chat Completions, one worker, no database, prices zeroed."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from deploy.local.processes import Process, free_port, http_ok

BENCH_DIR = Path(__file__).resolve().parent
VENV = BENCH_DIR / ".litellm-venv"
REQUIREMENT = "litellm[proxy]==1.106.*"
HOST = "127.0.0.1"
_INSTALL_TIMEOUT_S = 900
_READY_TIMEOUT_S = 120.0


def proxy_config(model: str, api_base: str, master_key: str) -> dict[str, Any]:
    """Pure: the proxy config serving ``model`` from the Chat Completions endpoint at ``api_base``.

    LiteLLM refuses to start without a master key; with no database it is checked in memory."""
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
        "general_settings": {"master_key": master_key},
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


def version() -> str:
    probe = [
        str(VENV / "bin" / "python"),
        "-c",
        "import importlib.metadata as m; print(m.version('litellm'))",
    ]
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def start(model: str, api_base: str, master_key: str, work_dir: Path) -> Process:
    """Start the proxy on a free port and wait until it answers; ``Process.url`` is its base URL."""
    executable = ensure_venv(work_dir / "litellm-install.log")
    config_path = work_dir / "litellm.yaml"
    config = proxy_config(model, api_base, master_key)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [str(executable), "--config", str(config_path), "--host", HOST, "--port", str(port)]
    argv += ["--num_workers", "1"]
    # No DATABASE_URL: no spend logs, no keys, nothing but the proxy itself.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env |= {"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "NO_DOCS": "True"}
    url = f"http://{HOST}:{port}"
    ready = http_ok(f"{url}/health/liveliness")
    process = Process("litellm", argv, env, work_dir / "litellm.log", url=url, ready=ready)
    return process.start().wait_ready(_READY_TIMEOUT_S)

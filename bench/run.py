"""One bench run: start the mock backends, then each target in turn (alone on the machine), measure
it, stop it; return the results as the dict the report prints and writes."""

import asyncio
import contextlib
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import litellm_proxy, postgres, procs, scenarios, stats
from bench.load import Target, run_cell
from bench.report import Results, goals
from bench.soak import SoakPlan, soak
from deploy.local.processes import Process, StackError, free_port, tcp_open
from deploy.local.stack import REPO_ROOT, Stack, python_env

MODEL = "bench"
HOLD_MODEL = "bench-hold"
HOLD_TOKENS = 10  # the held streams send this many tokens, spaced to last ``hold_s``


@dataclass(frozen=True)
class Plan:
    targets: tuple[str, ...]
    concurrency: tuple[int, ...]
    duration_s: float
    warmup_s: float
    tokens: int
    delay_ms: float
    chain_depths: tuple[int, ...]
    chain_samples: int
    streams: int
    hold_s: float
    sporadic: int  # requests per mode after an idle gap; 0 skips the scenario
    sporadic_gap_s: float
    soak: SoakPlan | None
    work_dir: Path


def gateway_config(mock_url: str, hold_url: str) -> dict[str, Any]:
    """Pure: our gateway's config, ``bench`` on the fast backend and ``bench-hold`` on the slow one."""
    return {
        "auth": "open",
        "models": [
            {"name": MODEL, "api_base": f"{mock_url}/v1", "model": MODEL},
            {"name": HOLD_MODEL, "api_base": f"{hold_url}/v1", "model": HOLD_MODEL},
        ],
    }


def _mock(name: str, tokens: int, delay_ms: float, log_dir: Path) -> Process:
    port = free_port()
    argv = [sys.executable, "-m", "bench.mock_backend", "--port", str(port)]
    argv += ["--tokens", str(tokens), "--delay-ms", str(delay_ms)]
    url = f"http://127.0.0.1:{port}"
    process = Process(
        name, argv, python_env({}), log_dir / f"{name}.log", url=url, ready=tcp_open("127.0.0.1", port)
    )
    return process.start().wait_ready(10.0)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _verify(target: Target) -> None:
    """One plain and one streamed request must succeed before the target is measured."""

    async def check() -> None:
        connection = await target.connect()
        try:
            for stream in (False, True):
                marker = target.first_marker if stream else None
                exchange = await asyncio.wait_for(
                    connection.post(target.path, target.body(stream), marker), 30
                )
                if problem := target.failure(stream, exchange):
                    raise StackError(f"{target.name} {'stream' if stream else 'non-stream'} check: {problem}")
        finally:
            connection.close()

    asyncio.run(check())


def _measure(target: Target, plan: Plan, cells: list[stats.Cell]) -> None:
    for stream in (False, True):
        for concurrency in plan.concurrency:
            cell = asyncio.run(run_cell(target, stream, concurrency, plan.duration_s, plan.warmup_s))
            cells.append(cell)
            summary = stats.summary(cell, None, 1)
            _progress(
                f"  {target.name:8} {cell.mode:10} c={concurrency:<3} {summary['rps'] or 0:8.1f} req/s"
                f"  p50 {summary['p50_ms'] or 0:7.2f} ms  errors {cell.errors}"
            )


def _failed(name: str, plan: Plan, error: str, cells: list[stats.Cell]) -> None:
    """Record every cell of a target that could not run, so the table shows why instead of a gap."""
    for stream in (False, True):
        for concurrency in plan.concurrency:
            cell = stats.Cell(target=name, stream=stream, concurrency=concurrency)
            cell.record_error(error)
            cells.append(cell)


def _guarded(what: str, action: Any) -> dict[str, Any]:
    try:
        return asyncio.run(action)
    except Exception as error:  # a failed scenario is reported, the rest of the run goes on
        _progress(f"  {what} failed: {type(error).__name__}: {error}")
        return {"error": f"{type(error).__name__}: {error}"}


def _direct(plan: Plan, mock: Process, cells: list[stats.Cell]) -> None:
    assert mock.url
    target = Target("direct", mock.url, "chat", MODEL, {"mock": mock.pid or 0})
    _verify(target)
    _measure(target, plan, cells)


def _gateway(plan: Plan, mock: Process, hold: Process, results: Results, cells: list[stats.Cell]) -> None:
    assert mock.url and hold.url
    config = gateway_config(mock.url, hold.url)
    # The worker caps its concurrent backend calls; the open-streams test needs them all at once.
    env = {"WORKER_CONCURRENCY": str(max(plan.streams + 64, 256))}
    stack = Stack(
        plan.work_dir / "stack",
        config=lambda _: config,
        mock_url=mock.url,
        env=env,
        log_dir=plan.work_dir / "logs",
    )
    with stack:
        pids = {name: p.pid for name, p in stack.processes.items() if p.pid}
        target = Target("gateway", stack.api_url, "responses", MODEL, {**pids, "mock": mock.pid or 0})
        _verify(target)
        # First, on fresh processes: after the load cells the memory their peaks grew (the Go heap
        # of NATS, Python's arenas) is reused by the streams, and each stream reads as half its cost.
        if plan.streams:
            _progress(f"  {plan.streams} open streams, each held {plan.hold_s:.0f} s")
            held = Target(
                "gateway", stack.api_url, "responses", HOLD_MODEL, {**pids, "mock-hold": hold.pid or 0}
            )
            streams = scenarios.open_streams(held, plan.streams, timeout_s=plan.hold_s + 120)
            results["open_streams"] = _guarded("open streams", streams)
        _measure(target, plan, cells)
        if plan.chain_depths:
            _progress(f"  chain depth {plan.chain_depths}, {plan.chain_samples} samples each")
            chain = scenarios.chain_depth(target, plan.chain_depths, plan.chain_samples)
            results["chain_depth"] = _guarded("chain depth", chain)
        if plan.sporadic:
            _progress(
                f"  sporadic: {plan.sporadic} requests per mode, each after {plan.sporadic_gap_s:.0f} s idle"
            )
            idle = scenarios.sporadic(target, plan.sporadic, plan.sporadic_gap_s)
            results["sporadic"] = _guarded("sporadic", idle)
        if plan.soak:  # last: it fills the projection, which every later measurement would feel
            _progress(f"  soak: up to {plan.soak.responses} responses or {plan.soak.max_s:.0f} s")
            results["soak"] = _guarded("soak", soak(target, plan.soak, _progress))


def _litellm(
    plan: Plan, mock: Process, results: Results, cells: list[stats.Cell], *, database: bool = False
) -> None:
    """LiteLLM stateless, or (``database``) with PostgreSQL, where its ``previous_response_id`` works."""
    assert mock.url
    name = "litellm-db" if database else "litellm"
    key = "sk-bench-" + secrets.token_hex(16)
    with contextlib.ExitStack() as cleanup:
        pids: dict[str, int] = {"mock": mock.pid or 0}
        database_url = None
        if database:  # the client first: where it cannot be had, no server is started for nothing
            litellm_proxy.ensure_venv(plan.work_dir / "litellm-install.log")
            litellm_proxy.ensure_database_client(plan.work_dir / "litellm-install.log")
            server, database_url = postgres.start(plan.work_dir)
            cleanup.callback(server.stop)
            pids["postgres"] = server.pid or 0
        process = litellm_proxy.start(MODEL, f"{mock.url}/v1", key, plan.work_dir, database_url=database_url)
        cleanup.callback(process.stop)
        results["meta"]["litellm_version"] = litellm_proxy.version()
        assert process.url
        target = Target(name, process.url, "responses", MODEL, {"litellm": process.pid or 0, **pids}, key)
        _verify(target)
        if database:
            _verify_chain(target)
        _measure(target, plan, cells)


def _verify_chain(target: Target) -> None:
    """A second turn by ``previous_response_id`` must be answered: what the database is there for."""

    async def check() -> None:
        connection = await target.connect()
        try:
            first = await asyncio.wait_for(connection.post(target.path, target.body(False)), 30)
            if problem := target.failure(False, first):
                raise StackError(f"{target.name} first turn: {problem}")
            previous = json.loads(first.body)["id"]
            body = target.body(False, previous_response_id=previous)
            second = await asyncio.wait_for(connection.post(target.path, body), 30)
            if problem := target.failure(False, second):
                raise StackError(f"{target.name} previous_response_id: {problem}")
        finally:
            connection.close()

    asyncio.run(check())


def _meta(plan: Plan) -> dict[str, Any]:
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "git": git.stdout.strip() or None,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[0],
        "fd_limit": procs.raise_fd_limit(),
        "targets": list(plan.targets),
        "concurrency": list(plan.concurrency),
        "duration_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "tokens": plan.tokens,
        "delay_ms": plan.delay_ms,
        "logs": str(plan.work_dir),
    }


def run(plan: Plan) -> Results:
    """Measure every target of ``plan``; a target that fails is reported as failed, not raised."""
    results: Results = {
        "meta": _meta(plan),
        "targets": {},
        "chain_depth": None,
        "open_streams": None,
        "sporadic": None,
        "soak": None,
    }
    cells: list[stats.Cell] = []
    started = time.monotonic()
    hold_delay_ms = 1000 * plan.hold_s / HOLD_TOKENS
    with contextlib.ExitStack() as cleanup:
        mock = _mock("mock", plan.tokens, plan.delay_ms, plan.work_dir)
        cleanup.callback(mock.stop)
        hold = _mock("mock-hold", HOLD_TOKENS, hold_delay_ms, plan.work_dir)
        cleanup.callback(hold.stop)
        steps = {
            "direct": lambda: _direct(plan, mock, cells),
            "gateway": lambda: _gateway(plan, mock, hold, results, cells),
            "litellm": lambda: _litellm(plan, mock, results, cells),
            "litellm-db": lambda: _litellm(plan, mock, results, cells, database=True),
        }
        for name in plan.targets:
            _progress(f"{name}:")
            try:
                steps[name]()
                results["targets"][name] = {"error": None}
            except Exception as error:  # one target failing must not lose the others' numbers
                message = f"{type(error).__name__}: {error}".strip()
                _progress(f"  {name} failed: {message[:2000]}")
                results["targets"][name] = {"error": message[:2000]}
                if not any(c.target == name for c in cells):
                    _failed(name, plan, message[:300], cells)
    cpus = os.cpu_count() or 1
    direct = {(c.stream, c.concurrency): c for c in cells if c.target == "direct"}
    results["cells"] = [
        stats.summary(c, direct.get((c.stream, c.concurrency)) if c.target != "direct" else None, cpus)
        for c in cells
    ]
    results["meta"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[0]
    results["meta"]["wall_s"] = round(time.monotonic() - started, 1)
    results["goals"] = goals(results)
    return results

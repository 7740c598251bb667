"""``python -m bench.profile --label before``: where each process of the gateway spends its CPU under
load, and what one response costs in counts that a busy machine does not distort.

Starts the mock backend and the gateway's stack (as ``python -m bench`` does), warms up, then runs
the closed-loop load (non-stream by default, ``--stream`` for streamed) at ``--concurrency`` for
``--seconds`` while ``py-spy record`` samples every process (our four services and the Mongo
stand-in; nats-server is not Python). Writes ``bench/profiles/<label>/<process>.txt``, each the
process's busiest frames (own time and inclusive), and ``counts.json``: per response, MongoDB
commands by kind (the stand-in's ``serverStatus`` opcounters; a ``bulk_write`` counts once), messages
appended to the log, CPU ms of each process, and each process's system calls and context switches
(``procs.kernel_calls``: reads, writes, waits, preemptions). Timings are whatever the machine
gives; the counts are the figures to compare before and after a change.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench import procs, stats
from bench.load import Target, run_cell
from bench.run import MODEL, _mock, _verify, gateway_config
from bench.scenarios import _create
from deploy.local.stack import Stack

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
PYSPY = Path(sys.executable).parent / "py-spy"
PROFILED = ("api", "translator", "worker", "store", "mongo")
TOP = 25


@dataclass(frozen=True)
class _Shaped(Target):
    """Every request carries ``fields`` too: a ``previous_response_id`` (each request a branch of the
    same chain), an agent's tools."""

    fields: Mapping[str, object] = field(default_factory=dict)

    def body(self, stream: bool, **extra: object) -> bytes:
        return super().body(stream, **self.fields, **extra)


def agent_tools(count: int) -> list[dict[str, Any]]:
    """``count`` function tools the size of a coding agent's (a paragraph of description, eight
    described parameters each): what every request of such a client carries."""
    described = {"type": "string", "description": "One argument of the command, as the user gave it."}
    return [
        {
            "type": "function",
            "name": f"tool_{n}",
            "description": "Runs one command in the user's workspace and returns what it printed. " * 4,
            "parameters": {
                "type": "object",
                "properties": {f"arg_{k}": described for k in range(8)},
                "required": ["arg_0"],
            },
        }
        for n in range(count)
    ]


async def _chain(target: Target, depth: int) -> str:
    """Build a chain of ``depth`` turns; the id of its last."""
    connection = await target.connect()
    try:
        last = ""
        for _ in range(depth):
            last = await _create(connection, target, {"previous_response_id": last} if last else {})
        return last
    finally:
        connection.close()


def _log_messages(stack: Stack) -> int:
    """How many messages the log's stream holds (every appended event, none removed in a run)."""
    import nats

    async def count() -> int:
        nc = await nats.connect(stack.nats_url)
        try:
            return (await nc.jetstream().stream_info("RESPONSES")).state.messages
        finally:
            await nc.close()

    return asyncio.run(count())


def _mongo_ops(stack: Stack) -> dict[str, int]:
    with MongoClient(stack.mongo_uri) as client:
        counters = client.admin.command("serverStatus")["opcounters"]
    return {k: int(v) for k, v in counters.items() if k != "command"}


def top_frames(raw: str, top: int = TOP) -> str:
    """Pure: py-spy's raw (collapsed) stacks → the frames with most own samples, and most inclusive
    samples, as percentages of the busy samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "no samples\n"

    def block(title: str, counts: Counter[str]) -> list[str]:
        return [title] + [f"{100 * n / total:6.1f}%  {frame}" for frame, n in counts.most_common(top)]

    lines = [f"{total} busy samples"]
    lines += block("\nown time (the frame itself was running):", own)
    lines += block("\ninclusive (the frame was on the stack):", inclusive)
    return "\n".join(lines) + "\n"


def _spy(pid: int, out: Path, seconds: float, rate: int) -> subprocess.Popen:
    """py-spy sampling ``pid`` without pausing it (``--nonblocking``), raw stacks into ``out``."""
    argv = [str(PYSPY), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking"]
    argv += ["--format", "raw", "-o", str(out), "--duration", str(int(seconds))]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--label", required=True, help="folder name under bench/profiles/")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument(
        "--chain-depth", type=int, default=0, help="each request continues a chain this deep (default 0)"
    )
    parser.add_argument("--tools", type=int, default=0, help="agent-sized function tools in each request")
    args = parser.parse_args(argv)
    out = PROFILES_DIR / args.label
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    mock = _mock("mock", args.tokens, 0.0, work)
    try:
        assert mock.url
        config = gateway_config(mock.url, mock.url)
        stack = Stack(work / "stack", config=lambda _: config, mock_url=mock.url, log_dir=work / "logs")
        with stack:
            pids = {name: p.pid for name, p in stack.processes.items() if p.pid}
            target = Target("gateway", stack.api_url, "responses", MODEL, pids)
            _verify(target)
            fields: dict[str, object] = {"tools": agent_tools(args.tools)} if args.tools else {}
            if args.chain_depth:
                fields["previous_response_id"] = asyncio.run(_chain(target, args.chain_depth))
            target = _Shaped("gateway", stack.api_url, "responses", MODEL, pids, fields=fields)
            asyncio.run(run_cell(target, args.stream, args.concurrency, 2.0, 0.0))  # warm-up
            ops_before, logged_before = _mongo_ops(stack), _log_messages(stack)
            calls_before = procs.kernel_calls(pids)
            spies = {
                name: _spy(pids[name], work / f"{name}.raw", args.seconds, args.rate)
                for name in PROFILED
                if name in pids
            }
            cell = asyncio.run(run_cell(target, args.stream, args.concurrency, args.seconds, 0.0))
            calls = procs.kernel_calls_between(calls_before, procs.kernel_calls(pids))
            for spy in spies.values():
                spy.wait(timeout=60)
            ops_after, logged_after = _mongo_ops(stack), _log_messages(stack)
    finally:
        mock.stop()
    summary = stats.summary(cell, None, 1)
    done = max(summary["requests"], 1)
    for name in spies:
        raw = work / f"{name}.raw"
        (out / f"{name}.txt").write_text(top_frames(raw.read_text() if raw.exists() else ""))
    counts: dict[str, Any] = {
        "mode": cell.mode,
        "concurrency": args.concurrency,
        "chain_depth": args.chain_depth,
        "tools": args.tools,
        "responses": summary["requests"],
        "errors": summary["errors"],
        "rps_under_profiler": summary["rps"],
        "p50_ms_under_profiler": summary["p50_ms"],
        "mongo_commands_per_response": {
            k: round((ops_after[k] - ops_before.get(k, 0)) / done, 3) for k in ops_after
        },
        "log_messages_per_response": round((logged_after - logged_before) / done, 3),
        "cpu_ms_per_response": {
            name: round(1000 * s / done, 3) for name, s in cell.cpu_s.items() if name in pids
        },
        "kernel_calls_per_response": {
            name: {field: round(n / done, 2) for field, n in vars(counted).items()}
            for name, counted in calls.items()
        },
        "loadavg": Path("/proc/loadavg").read_text().split()[0],
    }
    (out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(json.dumps(counts, indent=2))
    print(f"profiles in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    procs.raise_fd_limit()
    sys.exit(main())

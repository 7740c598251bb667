"""What a backend call costs the worker's client (``shared.chatclient.new_client``), on httpcore's
anyio network backend (httpx's default) and on asyncio's own streams (``shared.netstreams``, the
worker's): this process's CPU per streamed call against the bench's mock (16 tokens, no delay) with
2 and 16 calls in flight, the backends alternated each round; and the Python heap one stream held
open costs (``bench.stream_memory``'s measure, 1,000 at once against a mock that holds them).

    python -m bench.backend_call                       # 3 rounds, about a minute
    python -m bench.backend_call --calls 160 --rounds 1 --held 20
"""

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpcore

from bench.run import _mock
from bench.stream_memory import backend_streams
from deploy.local.processes import stop_all
from shared import chatclient, netstreams
from shared.config import Deployment

BACKENDS: dict[str, Callable[[], httpcore.AsyncNetworkBackend]] = {
    "anyio (httpx's default)": httpcore.AnyIOBackend,
    "asyncio streams (the worker's)": netstreams.AsyncioBackend,
}
IN_FLIGHT = (2, 16)
_BODY = {"model": "bench", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def cpu_us_per_call(
    mock_url: str, network: httpcore.AsyncNetworkBackend, *, calls: int, in_flight: int
) -> float:
    deployment = Deployment(name="bench", model="bench", api_base=f"{mock_url}/v1")
    async with chatclient.new_client(network) as client:

        async def call() -> None:
            async for _ in chatclient.chat_chunks(client, deployment, _BODY):
                pass

        await asyncio.gather(*(call() for _ in range(in_flight)))  # the pool's connections, opened
        started = time.process_time()
        for _ in range(calls // in_flight):
            await asyncio.gather(*(call() for _ in range(in_flight)))
        return 1e6 * (time.process_time() - started) / (calls // in_flight * in_flight)


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    work = Path(tempfile.mkdtemp(prefix="backend-call-"))
    fast = _mock("mock", 16, 0.0, work)
    # Its role chunk comes at once, its first token a minute later: each call stays open.
    slow = _mock("mock-hold", 2, 60_000.0, work)
    assert fast.url is not None and slow.url is not None
    results: dict[str, dict[str, list[float]]] = {name: {} for name in BACKENDS}
    try:
        for _ in range(args.rounds):
            for name, network in BACKENDS.items():
                for n in IN_FLIGHT:
                    cpu = await cpu_us_per_call(fast.url, network(), calls=args.calls, in_flight=n)
                    results[name].setdefault(f"{n} in flight", []).append(cpu)
        for name, network in BACKENDS.items():
            results[name]["held"] = [await backend_streams(slow.url, args.held, network())]
    finally:
        stop_all([fast, slow])
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, list[float]]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1600, help="streamed calls per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--held", type=int, default=1000, help="streams held open at once")
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    columns = [f"{n} in flight" for n in IN_FLIGHT]
    print(f"{args.calls} calls a cell, {args.rounds} rounds; {args.held} streams held")
    header = " | ".join(f"CPU µs a call, {c}" for c in columns)
    print(f"| network backend | {header} | KB a held stream |")
    print("| --- | " + " | ".join("---" for _ in columns) + " | --- |")
    for name, cells in results.items():
        cpu = " | ".join(_rounds(cells[c]) for c in columns)
        print(f"| {name} | {cpu} | {cells['held'][0]:.1f} |")
    return results


def _rounds(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) + f" (median {statistics.median(values):.0f})"


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

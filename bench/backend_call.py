"""What a backend call costs the worker's client (``shared.chatclient.new_client``) on each transport:
httpx's own (httpcore's pool, h11, anyio) and the worker's (``shared.http11``): this process's CPU per
call against the bench's mock (16 tokens, no delay), streamed and whole, with 2 and 16 calls in
flight, the transports alternated each round; and the Python heap one stream held open costs
(``bench.stream_memory``'s measure, 1,000 at once against a mock that holds them).

    python -m bench.backend_call                       # 3 rounds, about 2 minutes
    python -m bench.backend_call --calls 160 --rounds 1 --held 20
"""

import argparse
import asyncio
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.run import _mock
from bench.stream_memory import backend_streams
from deploy.local.processes import stop_all
from shared import chatclient, http11
from shared.config import Deployment


def httpx_transport() -> httpx.AsyncBaseTransport:
    """httpx's own, set as the worker's was before ``http11``: Nagle off, the same bounds."""
    return httpx.AsyncHTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        limits=httpx.Limits(
            max_connections=http11.MAX_CONNECTIONS, max_keepalive_connections=http11.MAX_IDLE
        ),
    )


TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport]] = {
    "httpx's own (httpcore)": httpx_transport,
    "http11 (the worker's)": http11.Pool,
}
IN_FLIGHT = (2, 16)
ANSWERS = {"streamed": True, "whole": False}
COLUMNS = [f"{n} in flight, {answer}" for n in IN_FLIGHT for answer in ANSWERS]


async def cpu_us_per_call(
    mock_url: str,
    transport: Callable[[], httpx.AsyncBaseTransport],
    *,
    calls: int,
    in_flight: int,
    stream: bool,
) -> float:
    deployment = Deployment(name="bench", model="bench", api_base=f"{mock_url}/v1")
    body = {"model": "bench", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with chatclient.new_client(transport) as client:

        async def call() -> None:
            async for _ in chatclient.chat_chunks(client, deployment, body):
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
    results: dict[str, dict[str, list[float]]] = {name: {} for name in TRANSPORTS}
    try:
        for _ in range(args.rounds):
            for name, transport in TRANSPORTS.items():
                for n in IN_FLIGHT:
                    for answer, stream in ANSWERS.items():
                        cpu = await cpu_us_per_call(
                            fast.url, transport, calls=args.calls, in_flight=n, stream=stream
                        )
                        results[name].setdefault(f"{n} in flight, {answer}", []).append(cpu)
        for name, transport in TRANSPORTS.items():
            results[name]["held"] = [await backend_streams(slow.url, args.held, transport)]
    finally:
        stop_all([fast, slow])
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> dict[str, dict[str, list[float]]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1600, help="calls per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--held", type=int, default=1000, help="streams held open at once")
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    print(f"{args.calls} calls a cell, {args.rounds} rounds; {args.held} streams held")
    header = " | ".join(f"CPU µs a call, {c}" for c in COLUMNS)
    print(f"| transport | {header} | KB a held stream |")
    print("| --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |")
    for name, cells in results.items():
        cpu = " | ".join(_rounds(cells[c]) for c in COLUMNS)
        print(f"| {name} | {cpu} | {cells['held'][0]:.1f} |")
    return results


def _rounds(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) + f" (median {statistics.median(values):.0f})"


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

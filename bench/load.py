"""The load generator: ``concurrency`` keep-alive connections, each sending its next request as soon as
the last one finished (closed loop), for a fixed duration after a warm-up. One process, one event loop,
the same code for every target."""

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench import procs
from bench.client import Connection, Exchange, ExchangeFailed
from bench.mock_backend import TOKEN
from bench.stats import Cell

PROMPT = "Say something short."
REQUEST_TIMEOUT_S = 15.0
# Watched processes that are not part of the system under test: the backends and the load generator.
OUTSIDE = ("mock", "mock-hold", "loadgen")
_RETRY_PAUSE_S = 0.05  # after a failed request, so a refused connection does not spin the loop


@dataclass(frozen=True)
class Target:
    """Something the bench sends requests to, and the processes whose cost it accounts to it."""

    name: str
    url: str
    api: str  # "chat": Chat Completions (the backend itself); "responses": a gateway's /v1/responses
    model: str
    pids: Mapping[str, int] = field(default_factory=dict)
    api_key: str | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.api == "chat" else "/v1/responses"

    @property
    def first_marker(self) -> bytes:
        """Bytes that mark the first output token in a streamed reply."""
        return f'"content":"{TOKEN}'.encode() if self.api == "chat" else b"response.output_text.delta"

    def body(self, stream: bool, **extra: object) -> bytes:
        """The request body; ``extra`` adds fields such as ``previous_response_id``."""
        if self.api == "chat":
            request: dict[str, object] = {
                "model": self.model,
                "messages": [{"role": "user", "content": PROMPT}],
            }
            if stream:
                request["stream_options"] = {"include_usage": True}
        else:
            request = {"model": self.model, "input": PROMPT}
        return json.dumps({**request, "stream": stream, **extra}).encode()

    def failure(self, stream: bool, exchange: Exchange) -> str | None:
        """Pure: why ``exchange`` is not a successful answer, or None."""
        if exchange.status != 200:
            return f"HTTP {exchange.status}: {exchange.body[:300].decode(errors='replace')}"
        expected = {
            ("chat", False): b'"finish_reason":"stop"',
            ("chat", True): b"[DONE]",
            ("responses", False): b"completed",
            ("responses", True): b"response.completed",
        }[self.api, stream]
        if expected not in exchange.body or TOKEN.encode() not in exchange.body:
            return f"unexpected body: {exchange.body[-300:].decode(errors='replace')}"
        if stream and exchange.first_at is None:
            return "stream carried no output text delta"
        return None

    async def connect(self) -> Connection:
        return await Connection.open(*self.host_port, api_key=self.api_key)


def watched(target: Target) -> dict[str, int]:
    """The target's processes plus the load generator itself, whose floor the direct rows show."""
    return {**target.pids, "loadgen": os.getpid()}


async def _worker(
    target: Target, stream: bool, until: float, cell: Cell | None, started: float = 0.0
) -> None:
    """Send requests back to back on one connection until ``until``; record them into ``cell``,
    whose window opened at ``started``."""
    body = target.body(stream)
    marker = target.first_marker if stream else None
    connection: Connection | None = None
    while time.perf_counter() < until:
        try:
            if connection is None or connection.closed:
                connection = await target.connect()
            exchange = await asyncio.wait_for(connection.post(target.path, body, marker), REQUEST_TIMEOUT_S)
        except (ExchangeFailed, OSError, TimeoutError) as error:
            if connection is not None:
                connection.close()
            connection = None
            if cell is not None:
                cell.record_error(f"{type(error).__name__}: {error}")
            await asyncio.sleep(_RETRY_PAUSE_S)
            continue
        if cell is None:
            continue
        problem = target.failure(stream, exchange)
        if problem:
            cell.record_error(problem)
            continue
        cell.latencies.append(exchange.latency)
        if exchange.ttft is not None:
            cell.ttfts.append(exchange.ttft)
        cell.elapsed_s = max(cell.elapsed_s, exchange.done_at - started)
    if connection is not None:
        connection.close()


async def run_cell(
    target: Target, stream: bool, concurrency: int, duration_s: float, warmup_s: float
) -> Cell:
    """Warm up, then measure for ``duration_s``: latencies, first-token times and CPU per process.

    Throughput counts requests that finished, over the time from the window's start to the last
    finish, so requests still in flight at the deadline are neither dropped nor half-counted."""
    cell = Cell(target=target.name, stream=stream, concurrency=concurrency)
    if warmup_s > 0:
        until = time.perf_counter() + warmup_s
        await asyncio.gather(*(_worker(target, stream, until, None) for _ in range(concurrency)))
    pids = watched(target)
    before, busy_before = procs.snapshot(pids), procs.machine_busy_s()
    started = time.perf_counter()
    until = started + duration_s
    await asyncio.gather(*(_worker(target, stream, until, cell, started) for _ in range(concurrency)))
    after, busy_after = procs.snapshot(pids), procs.machine_busy_s()
    cell.machine_cpu_s = busy_after - busy_before
    cell.cpu_s = procs.cpu_between(before, after)
    cell.hwm_kb = {name: usage.hwm_kb for name, usage in after.items()}
    return cell

"""The two measurements beyond the load table: the cost of ``previous_response_id`` chain depth, and
the memory of many streams held open at once."""

import asyncio
import json
import time
from dataclasses import dataclass

from bench import procs
from bench.client import Connection, ExchangeFailed
from bench.load import OUTSIDE, REQUEST_TIMEOUT_S, Target, watched
from bench.stats import percentile

_OPEN_BATCH = 100  # connections opened at a time, so the accept backlog never overflows


async def chain_depth(target: Target, depths: tuple[int, ...], samples: int) -> dict[str, object]:
    """Build a chain of ``max(depths)`` turns, then time requests continuing from each depth.

    Samples alternate between depths, so drift in the machine's load spreads over all of them; every
    continuation branches off the chain, so it stays exactly as deep as built."""
    connection = await target.connect()
    try:
        ids: list[str] = []
        started = time.perf_counter()
        for _ in range(max(depths)):
            extra = {"previous_response_id": ids[-1]} if ids else {}
            ids.append(await _create(connection, target, extra))
        build_s = time.perf_counter() - started
        latencies: dict[int, list[float]] = {depth: [] for depth in (0, *depths)}
        for _ in range(samples):
            for depth in latencies:
                extra = {"previous_response_id": ids[depth - 1]} if depth else {}
                body = target.body(False, **extra)
                exchange = await asyncio.wait_for(connection.post(target.path, body), REQUEST_TIMEOUT_S)
                if problem := target.failure(False, exchange):
                    raise ExchangeFailed(f"depth {depth}: {problem}")
                latencies[depth].append(exchange.latency)
    finally:
        connection.close()
    return {
        "build_s": round(build_s, 3),
        "samples": samples,
        "depths": {str(depth): _latency_summary(values) for depth, values in latencies.items()},
    }


async def _create(connection: Connection, target: Target, extra: dict[str, object]) -> str:
    exchange = await asyncio.wait_for(
        connection.post(target.path, target.body(False, **extra)), REQUEST_TIMEOUT_S
    )
    if problem := target.failure(False, exchange):
        raise ExchangeFailed(f"building the chain: {problem}")
    return json.loads(exchange.body)["id"]


def _latency_summary(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}_ms": _ms(percentile(values, q)) for q in (50, 99)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass
class _StreamCounts:
    started: int = 0  # first output token seen
    finished: int = 0
    failed: int = 0
    first_error: str | None = None
    peak_open: int = 0

    def fail(self, message: str) -> None:
        self.failed += 1
        self.first_error = self.first_error or message


async def open_streams(
    target: Target, count: int, timeout_s: float, sample_s: float = 0.2
) -> dict[str, object]:
    """Hold ``count`` streams open at once against a slow backend and read each process's memory.

    Resident memory is sampled while streams are open; the peak of the sum over processes, and each
    process at that moment, are reported with the baseline before the first stream."""
    pids = watched(target)
    baseline = procs.snapshot(pids)
    connections: list[Connection] = []
    for start in range(0, count, _OPEN_BATCH):
        batch = range(start, min(start + _OPEN_BATCH, count))
        connections += await asyncio.gather(*(target.connect() for _ in batch))
    counts = _StreamCounts()
    tasks = [asyncio.create_task(_hold(c, target, counts, timeout_s)) for c in connections]
    peak_total, peak = 0, baseline
    while not all(task.done() for task in tasks):
        counts.peak_open = max(counts.peak_open, counts.started - counts.finished)
        now = procs.snapshot(pids)
        total = sum(usage.rss_kb for name, usage in now.items() if name not in OUTSIDE)
        if total > peak_total:
            peak_total, peak = total, now
        await asyncio.sleep(sample_s)
    for connection in connections:
        connection.close()
    servers = [name for name in pids if name not in OUTSIDE]
    grown = peak_total - sum(baseline[name].rss_kb for name in servers)
    return {
        "streams": count,
        "peak_open": counts.peak_open,
        "finished": counts.finished,
        "failed": counts.failed,
        "first_error": counts.first_error,
        "rss_mb": {
            name: {"baseline": _mb(baseline[name].rss_kb), "peak": _mb(peak[name].rss_kb)} for name in pids
        },
        "sum_peak_rss_mb": _mb(peak_total),
        "kb_per_stream": round(grown / count, 1) if count else None,
    }


async def _hold(connection: Connection, target: Target, counts: _StreamCounts, timeout_s: float) -> None:
    def first() -> None:
        counts.started += 1

    try:
        posting = connection.post(target.path, target.body(True), target.first_marker, first)
        exchange = await asyncio.wait_for(posting, timeout_s)
    except (ExchangeFailed, OSError, TimeoutError) as error:
        counts.fail(f"{type(error).__name__}: {error}")
        return
    if problem := target.failure(True, exchange):
        counts.fail(problem)
        return
    counts.finished += 1


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


async def sporadic(target: Target, count: int, gap_s: float) -> dict[str, object]:
    """Requests after ``gap_s`` of silence, each followed at once by a warm one on its connection.

    Every idle request opens a new connection, as a client that was quiet would (and as it must: the
    server closes idle keep-alive connections after 5 s). Its latency, against the warm one right
    after it, shows what the idle spell cost; the stream is timed to its last event, since a
    stream can be held back at its end (response.completed)."""
    modes: dict[str, dict[str, list[float]]] = {}
    for stream in (False, True):
        idle: list[float] = []
        warm: list[float] = []
        for _ in range(count):
            await asyncio.sleep(gap_s)
            connection = await target.connect()
            try:
                for into in (idle, warm):
                    exchange = await asyncio.wait_for(
                        connection.post(
                            target.path, target.body(stream), target.first_marker if stream else None
                        ),
                        REQUEST_TIMEOUT_S,
                    )
                    if problem := target.failure(stream, exchange):
                        raise ExchangeFailed(f"sporadic {'stream' if stream else 'non-stream'}: {problem}")
                    into.append(exchange.latency)
            finally:
                connection.close()
        modes["stream" if stream else "non-stream"] = {"idle": idle, "warm": warm}
    return {
        "count": count,
        "gap_s": gap_s,
        "modes": {mode: _sporadic_summary(v) for mode, v in modes.items()},
    }


def _sporadic_summary(samples: dict[str, list[float]]) -> dict[str, object]:
    idle, warm = samples["idle"], samples["warm"]
    idle_p50, warm_p50 = _ms(percentile(idle, 50)), _ms(percentile(warm, 50))
    return {
        "idle_ms": [_ms(v) for v in idle],
        "idle_p50_ms": idle_p50,
        "idle_max_ms": _ms(max(idle)) if idle else None,
        "warm_p50_ms": warm_p50,
        "idle_minus_warm_p50_ms": None
        if idle_p50 is None or warm_p50 is None
        else round(idle_p50 - warm_p50, 3),
    }

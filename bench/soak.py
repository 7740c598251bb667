"""The soak: the load generator's closed loop held for a long time, measured window by window, so a
cost that grows with the data (the projection's, MongoDB's) shows as throughput that falls.

Each window is one load cell (the same ``run_cell`` as the tables) of ``window_s`` seconds without
warm-up; the soak stops after the window that reaches ``responses`` or ``max_s``, whichever comes
first. The verdict compares the last window's throughput with the first's.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import stats
from bench.load import OUTSIDE, Target, run_cell


@dataclass(frozen=True)
class SoakPlan:
    responses: int
    max_s: float
    window_s: float
    concurrency: int


def window_row(index: int, started_s: float, total: int, cell: stats.Cell) -> dict[str, Any]:
    """Pure: one window's figures; ``total`` counts the responses of every window so far, this one too."""
    summary = stats.summary(cell, None, 1)
    cpu = summary["cpu_ms_per_request"]
    return {
        "window": index,
        "started_s": round(started_s, 1),
        "responses_total": total,
        "requests": summary["requests"],
        "errors": cell.errors,
        "first_error": cell.first_error,
        "rps": summary["rps"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "mongo_cpu_ms": cpu.get("mongo"),
        "system_cpu_ms": _system_cpu(cpu),
        # Each process's share: which one's cost grows with the data.
        "cpu_ms": {name: v for name, v in cpu.items() if name not in OUTSIDE},
    }


def _system_cpu(cpu: dict[str, float | None]) -> float | None:
    values = [v for name, v in cpu.items() if name not in OUTSIDE and v is not None]
    return round(sum(values), 3) if values else None


def verdict(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: the last window's throughput as a share of the first's (None with fewer than two)."""
    rates = [w["rps"] for w in windows]
    ratio = round(rates[-1] / rates[0], 3) if len(rates) >= 2 and rates[0] and rates[-1] else None
    return {
        "windows": windows,
        "responses": windows[-1]["responses_total"] if windows else 0,
        "errors": sum(w["errors"] for w in windows),
        "first_rps": rates[0] if rates else None,
        "last_rps": rates[-1] if rates else None,
        "last_vs_first": ratio,
    }


async def soak(target: Target, plan: SoakPlan, progress: Callable[[str], None]) -> dict[str, Any]:
    windows: list[dict[str, Any]] = []
    total = 0
    started = time.monotonic()
    while total < plan.responses and time.monotonic() - started < plan.max_s:
        at = time.monotonic() - started
        cell = await run_cell(target, False, plan.concurrency, plan.window_s, 0.0)
        total += len(cell.latencies)
        row = window_row(len(windows), at, total, cell)
        windows.append(row)
        progress(
            f"  soak window {row['window']:3}: {row['rps'] or 0:7.1f} req/s  p50 {row['p50_ms'] or 0:7.1f} ms"
            f"  mongo {row['mongo_cpu_ms'] or 0:6.2f} ms/req  {total} responses"
        )
    return {**verdict(windows), "concurrency": plan.concurrency, "window_s": plan.window_s}

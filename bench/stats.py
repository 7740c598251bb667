"""Pure summaries of measured samples: percentiles and the per-cell figures the report prints."""

from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), interpolated between the two nearest ranks; None if empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Cell:
    """What one (target, mode, concurrency) run measured. Times in seconds."""

    target: str
    stream: bool
    concurrency: int
    elapsed_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)  # per watched process, over the cell
    hwm_kb: dict[str, int] = field(default_factory=dict)  # per watched process, at the cell's end
    machine_cpu_s: float = 0.0  # busy CPU seconds of the whole machine over the cell

    @property
    def mode(self) -> str:
        return "stream" if self.stream else "non-stream"

    @property
    def failed(self) -> bool:
        return not self.latencies

    def record_error(self, message: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = message


def summary(cell: Cell, direct: Cell | None, cpus: int) -> dict[str, object]:
    """The figures of one cell, in ms and requests/s; ``added_*`` compare with the direct cell."""
    count = len(cell.latencies)
    p50 = _ms(percentile(cell.latencies, 50))
    ttft50 = _ms(percentile(cell.ttfts, 50))
    direct_p50 = _ms(percentile(direct.latencies, 50)) if direct else None
    direct_ttft = _ms(percentile(direct.ttfts, 50)) if direct else None
    return {
        "target": cell.target,
        "mode": cell.mode,
        "concurrency": cell.concurrency,
        "requests": count,
        "errors": cell.errors,
        "first_error": cell.first_error,
        "elapsed_s": round(cell.elapsed_s, 3),
        "rps": round(count / cell.elapsed_s, 1) if cell.elapsed_s > 0 and count else None,
        "p50_ms": p50,
        "p99_ms": _ms(percentile(cell.latencies, 99)),
        "mean_ms": _ms(sum(cell.latencies) / count) if count else None,
        "added_p50_ms": _diff(p50, direct_p50),
        "ttft_p50_ms": ttft50,
        "ttft_p99_ms": _ms(percentile(cell.ttfts, 99)),
        "added_ttft_p50_ms": _diff(ttft50, direct_ttft),
        "cpu_ms_per_request": {
            name: round(1000 * seconds / count, 3) if count else None for name, seconds in cell.cpu_s.items()
        },
        "peak_rss_mb": {name: round(kb / 1024, 1) for name, kb in cell.hwm_kb.items()},
        "other_cpu_pct": _other_cpu_pct(cell, cpus),
    }


def _other_cpu_pct(cell: Cell, cpus: int) -> float | None:
    """Share of the machine's CPU that processes outside the bench took during the cell: noise."""
    if cell.elapsed_s <= 0:
        return None
    other = max(cell.machine_cpu_s - sum(cell.cpu_s.values()), 0.0)
    return round(100 * other / (cell.elapsed_s * cpus), 1)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _diff(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or baseline is None else round(value - baseline, 3)

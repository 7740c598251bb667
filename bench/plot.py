"""The results as one PNG: throughput, latency and first-token time by concurrency, CPU per request
by process, chain depth and memory under open streams."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the bench runs headless
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bench.load import OUTSIDE
from bench.report import PROCESS_ORDER, TARGET_ORDER, Results

COLORS = {"direct": "#7f7f7f", "gateway": "#1f77b4", "litellm": "#d62728"}
STYLES = {"non-stream": "-", "stream": "--"}


def _series(results: Results, target: str, mode: str, key: str) -> tuple[list[int], list[float]]:
    cells = sorted(
        (c for c in results["cells"] if c["target"] == target and c["mode"] == mode and c.get(key)),
        key=lambda c: c["concurrency"],
    )
    return [c["concurrency"] for c in cells], [c[key] for c in cells]


def _by_concurrency(ax: Axes, results: Results, key: str, title: str, modes: tuple[str, ...]) -> None:
    for target in TARGET_ORDER:
        for mode in modes:
            xs, ys = _series(results, target, mode, key)
            if xs:
                ax.plot(xs, ys, STYLES[mode], marker="o", color=COLORS[target], label=f"{target} {mode}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("concurrency")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _cpu(ax: Axes, results: Results) -> None:
    """Stacked CPU ms per request by process, for each target and mode at concurrency 16."""
    cells = [
        c
        for target in ("gateway", "litellm")
        for c in results["cells"]
        if c["target"] == target and c["concurrency"] == 16 and c["requests"]
    ]
    seen = {n for c in cells for n in c["cpu_ms_per_request"] if n not in OUTSIDE}
    names = [n for n in PROCESS_ORDER if n in seen]
    labels = [f"{c['target']}\n{c['mode']}" for c in cells]
    bottoms = [0.0] * len(cells)
    for name in names:
        values = [c["cpu_ms_per_request"].get(name) or 0.0 for c in cells]
        ax.bar(labels, values, bottom=bottoms, label=name)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_title("CPU ms per request by process (c=16)")
    ax.tick_params(axis="x", labelsize=7)
    if names:
        ax.set_ylim(top=1.35 * max(bottoms))  # room for the legend above the bars
        ax.legend(fontsize=7, ncols=4, loc="upper left")


def _chain(ax: Axes, results: Results) -> None:
    depths = (results.get("chain_depth") or {}).get("depths") or {}
    ax.set_title("gateway: latency by chain depth (non-stream)")
    if not depths:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    labels = list(depths)
    ax.bar(labels, [d["p50_ms"] for d in depths.values()], color=COLORS["gateway"], label="p50")
    ax.plot(labels, [d["p99_ms"] for d in depths.values()], "ko", label="p99")
    ax.set_xlabel("previous_response_id chain depth (turns)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=7)


def _streams(ax: Axes, results: Results) -> None:
    held: dict[str, Any] = results.get("open_streams") or {}
    ax.set_title(f"gateway: RSS with {held.get('streams', '?')} open streams")
    if "rss_mb" not in held:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    names = [n for n in held["rss_mb"] if n not in OUTSIDE]
    ax.bar(names, [held["rss_mb"][n]["peak"] for n in names], color="#ff7f0e", label="at peak")
    ax.bar(names, [held["rss_mb"][n]["baseline"] for n in names], color="#2ca02c", label="before")
    ax.set_ylabel("MB")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7)


def draw(results: Results, path: Path) -> Path:
    figure, axes = plt.subplots(2, 3, figsize=(16, 9))
    both = ("non-stream", "stream")
    _by_concurrency(axes[0][0], results, "rps", "requests/s (log)", both)
    _by_concurrency(axes[0][1], results, "p50_ms", "p50 latency ms (log)", both)
    _by_concurrency(axes[0][2], results, "ttft_p50_ms", "time to first token p50 ms (log)", ("stream",))
    _cpu(axes[1][0], results)
    _chain(axes[1][1], results)
    _streams(axes[1][2], results)
    meta = results["meta"]
    figure.suptitle(
        f"responses-gateway bench {meta['started_at']}: {meta['cpus']} CPUs, {meta['tokens']} tokens"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

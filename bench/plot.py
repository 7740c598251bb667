"""The results as one PNG: throughput, latency and first-token time by concurrency, CPU per request
by process, chain depth, memory under open streams, the sporadic scenario and the soak."""

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


def _sporadic(ax: Axes, results: Results) -> None:
    idle = results.get("sporadic") or {}
    ax.set_title(f"gateway: after {idle.get('gap_s', '?')} s idle vs warm (ms)")
    if "modes" not in idle:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    modes = list(idle["modes"])
    for offset, (key, label) in enumerate((("idle_p50_ms", "idle p50"), ("warm_p50_ms", "warm p50"))):
        xs = [i + 0.4 * offset for i in range(len(modes))]
        ax.bar(xs, [idle["modes"][m][key] or 0 for m in modes], width=0.4, label=label)
    ax.plot(range(len(modes)), [idle["modes"][m]["idle_max_ms"] or 0 for m in modes], "ko", label="idle max")
    ax.set_xticks([i + 0.2 for i in range(len(modes))], modes)
    ax.legend(fontsize=7)


def _soak(ax: Axes, results: Results) -> None:
    soaked = results.get("soak") or {}
    ax.set_title("gateway soak: req/s and the Mongo stand-in's CPU ms per request, by window")
    if "windows" not in soaked:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    at = [w["started_s"] for w in soaked["windows"]]
    ax.plot(at, [w["rps"] or 0 for w in soaked["windows"]], "o-", color=COLORS["gateway"], label="req/s")
    ax.set_xlabel("seconds into the soak")
    ax.set_ylim(bottom=0)
    cpu = ax.twinx()
    cpu.plot(
        at, [w["mongo_cpu_ms"] or 0 for w in soaked["windows"]], "s--", color="#ff7f0e", label="mongo ms/req"
    )
    cpu.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="lower left")
    cpu.legend(fontsize=7, loc="lower right")


def draw(results: Results, path: Path) -> Path:
    figure, axes = plt.subplots(3, 3, figsize=(16, 13))
    both = ("non-stream", "stream")
    _by_concurrency(axes[0][0], results, "rps", "requests/s (log)", both)
    _by_concurrency(axes[0][1], results, "p50_ms", "p50 latency ms (log)", both)
    _by_concurrency(axes[0][2], results, "ttft_p50_ms", "time to first token p50 ms (log)", ("stream",))
    _cpu(axes[1][0], results)
    _chain(axes[1][1], results)
    _streams(axes[1][2], results)
    _sporadic(axes[2][0], results)
    _soak(axes[2][1], results)
    axes[2][2].axis("off")
    meta = results["meta"]
    figure.suptitle(
        f"responses-gateway bench {meta['started_at']}: {meta['cpus']} CPUs, {meta['tokens']} tokens"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

"""Turning results into what a person reads: text tables, the goals check, JSON files and a PNG plot.

``results`` is the dict ``python -m bench`` writes as JSON: ``meta``, ``cells`` (one ``stats.summary``
each), ``targets``, ``chain_depth``, ``open_streams``, ``sporadic``, ``soak``, ``goals``.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.load import OUTSIDE

Results = dict[str, Any]
Row = dict[str, Any]

# Processes in the order columns show them; names not listed follow in the order met.
PROCESS_ORDER = (
    "api", "translator", "worker", "store", "nats", "mongo", "litellm", "postgres", "mock", "loadgen",
)  # fmt: skip
SERVICES = ("api", "translator", "worker", "store")  # our own code, without NATS and the Mongo stand-in
TARGET_ORDER = ("direct", "gateway", "litellm", "litellm-db")

# Issue 14's targets.
GOAL_ADDED_MS = 5.0
GOAL_THROUGHPUT_RATIO = 3.0
GOAL_THROUGHPUT_CONCURRENCY = (16, 64)
GOAL_SYSTEM_CPU_MS = 8.0  # whole-system CPU per request at c=16, non-stream
GOAL_CHAIN_MS = 3.0
GOAL_OPEN_STREAMS = 1000
GOAL_KB_PER_STREAM = 150.0
# After an idle spell a response costs what a warm one does: the idle p50 within this of the warm one.
GOAL_SPORADIC_MS = 5.0
# The soak's last window keeps this share of its first window's throughput.
GOAL_SOAK_RATIO = 0.9
# The LiteLLM targets our throughput is compared with: stateless, and with its database.
LITELLM_TARGETS = ("litellm", "litellm-db")


def _cell(results: Results, target: str, mode: str, concurrency: int) -> Row | None:
    return next(
        (
            c
            for c in results["cells"]
            if (c["target"], c["mode"], c["concurrency"]) == (target, mode, concurrency)
        ),
        None,
    )


def system_cpu_ms(cell: Row) -> float | None:
    """Pure: CPU ms per request of every process of the target (ours: with NATS and the stand-in)."""
    cpu = cell.get("cpu_ms_per_request") or {}
    return sum(v for name, v in cpu.items() if name not in OUTSIDE and v is not None) or None


def _throughput_ratio(results: Results, theirs_target: str, mode: str, concurrency: int) -> float | None:
    """Ours over theirs; a cell of ours with errors counts as not met (0), since the goal says none."""
    ours = _cell(results, "gateway", mode, concurrency) or {}
    theirs = (_cell(results, theirs_target, mode, concurrency) or {}).get("rps")
    if not ours.get("rps") or not theirs:
        return None
    return 0.0 if ours.get("errors") else round(ours["rps"] / theirs, 2)


def goals(results: Results) -> list[Row]:
    """Pure: each goal of the issue with the measured value; ``met`` None when it could not be measured."""
    ours_ns = _cell(results, "gateway", "non-stream", 1) or {}
    ours_st = _cell(results, "gateway", "stream", 1) or {}
    checks: list[tuple[str, float | None, float, str]] = [
        ("added p50 latency, non-stream, c=1", ours_ns.get("added_p50_ms"), GOAL_ADDED_MS, "ms <="),
        ("added time to first token p50, c=1", ours_st.get("added_ttft_p50_ms"), GOAL_ADDED_MS, "ms <="),
    ]
    measured = {c["target"] for c in results["cells"]}
    for theirs in [t for t in LITELLM_TARGETS if t in measured] or ["litellm"]:
        for concurrency in GOAL_THROUGHPUT_CONCURRENCY:
            for mode in ("non-stream", "stream"):
                ratio = _throughput_ratio(results, theirs, mode, concurrency)
                name = f"throughput vs {theirs}, {mode}, c={concurrency}, no errors"
                checks.append((name, ratio, GOAL_THROUGHPUT_RATIO, "x >="))
    system = system_cpu_ms(_cell(results, "gateway", "non-stream", 16) or {})
    checks.append(("whole-system CPU per request, non-stream, c=16", system, GOAL_SYSTEM_CPU_MS, "ms <="))
    depths = (results.get("chain_depth") or {}).get("depths") or {}
    deep, shallow = (depths.get(d, {}).get("p50_ms") for d in ("100", "1"))
    chain = round(deep - shallow, 3) if deep is not None and shallow is not None else None
    checks.append(("100-turn chain minus 1-turn chain, p50", chain, GOAL_CHAIN_MS, "ms <="))
    held = results.get("open_streams") or {}
    per_stream = held.get("kb_per_stream")
    if per_stream is not None and (held.get("peak_open") or 0) < GOAL_OPEN_STREAMS:
        per_stream = None  # fewer open at once than the goal asks: not measured, whatever the size
    checks.append(
        (f"{GOAL_OPEN_STREAMS} open streams, KB per stream", per_stream, GOAL_KB_PER_STREAM, "KB <")
    )
    idle_modes = (results.get("sporadic") or {}).get("modes") or {}
    for mode in ("non-stream", "stream"):
        added = (idle_modes.get(mode) or {}).get("idle_minus_warm_p50_ms")
        checks.append(
            (f"after {_gap(results)} idle minus warm, {mode}, p50", added, GOAL_SPORADIC_MS, "ms <=")
        )
    ratio = (results.get("soak") or {}).get("last_vs_first")
    checks.append(("soak: last window's throughput / first's", ratio, GOAL_SOAK_RATIO, "x >="))
    rows = []
    for name, value, limit, unit in checks:
        rows.append(
            {"goal": name, "value": value, "limit": limit, "unit": unit, "met": _met(value, limit, unit)}
        )
    return rows


def _met(value: float | None, limit: float, unit: str) -> bool | None:
    if value is None:
        return None
    if ">=" in unit:
        return value >= limit
    return value <= limit if "<=" in unit else value < limit


def _gap(results: Results) -> str:
    gap = (results.get("sporadic") or {}).get("gap_s")
    return f"{gap:.0f} s" if gap is not None else "a gap"


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _sorted_cells(results: Results) -> list[Row]:
    def key(c: Row) -> tuple[int, str, int]:
        rank = TARGET_ORDER.index(c["target"]) if c["target"] in TARGET_ORDER else len(TARGET_ORDER)
        return rank, c["mode"], c["concurrency"]

    return sorted(results["cells"], key=key)


def latency_table(results: Results) -> str:
    header = ["target", "mode", "conc", "req/s", "p50 ms", "p99 ms", "+p50 ms", "ttft p50", "+ttft", "errors"]
    rows = []
    for c in _sorted_cells(results):
        lead = [c["target"], c["mode"], str(c["concurrency"])]
        if not c["requests"]:
            rows.append([*lead, "FAILED", "", "", "", "", "", _fmt(c["errors"])])
            continue
        figures = [
            c["rps"],
            c["p50_ms"],
            c["p99_ms"],
            c["added_p50_ms"],
            c["ttft_p50_ms"],
            c["added_ttft_p50_ms"],
        ]
        rows.append([*lead, *(_fmt(v) for v in figures), _fmt(c["errors"])])
    return _table(header, rows)


def _process_names(results: Results, key: str) -> list[str]:
    seen = {name for c in results["cells"] for name in c.get(key, {})}
    return [p for p in PROCESS_ORDER if p in seen] + sorted(seen.difference(PROCESS_ORDER))


def cpu_table(results: Results) -> str:
    """CPU milliseconds per request of each process; ``services`` sums our four services, ``system``
    every process of the target (with NATS and the Mongo stand-in for ours)."""
    names = _process_names(results, "cpu_ms_per_request")
    rows = []
    for c in _sorted_cells(results):
        if not c["requests"]:
            continue
        cpu = c["cpu_ms_per_request"]
        services = sum(cpu[n] for n in SERVICES if cpu.get(n) is not None) or None
        system = system_cpu_ms(c)
        figures = [*(cpu.get(n) for n in names), services, system, c["other_cpu_pct"]]
        rows.append([c["target"], c["mode"], str(c["concurrency"]), *(_fmt(v) for v in figures)])
    return _table(["target", "mode", "conc", *names, "services", "system", "other %"], rows)


def rss_table(results: Results) -> str:
    """Peak resident memory (VmHWM) of each process over the whole run of its target."""
    names = _process_names(results, "peak_rss_mb")
    rows = []
    for target in TARGET_ORDER:
        cells = [c for c in results["cells"] if c["target"] == target and c["peak_rss_mb"]]
        if not cells:
            continue
        peak = {n: max(c["peak_rss_mb"].get(n, 0) for c in cells) for n in names}
        system = sum(v for n, v in peak.items() if n not in OUTSIDE)
        rows.append([target, *(_fmt(peak[n] or None, 1) for n in names), _fmt(system or None, 1)])
    return _table(["target", *names, "system"], rows)


def _unmeasured(name: str, scenario: dict[str, Any] | None) -> str | None:
    """The line a scenario's table is instead, when it did not run or failed."""
    if not scenario:
        return f"{name}: not measured"
    if "error" in scenario:
        return f"{name}: FAILED: {scenario['error']}"
    return None


def chain_table(results: Results) -> str:
    chain = results.get("chain_depth")
    if unmeasured := _unmeasured("chain depth", chain):
        return unmeasured
    base = chain["depths"].get("1", {}).get("p50_ms")
    rows = [
        [depth, _fmt(v["p50_ms"]), _fmt(v["p99_ms"]), _fmt(None if base is None else v["p50_ms"] - base)]
        for depth, v in chain["depths"].items()
    ]
    header = ["depth", "p50 ms", "p99 ms", "vs depth 1"]
    return f"chain of {max(map(int, chain['depths']))} turns built in {chain['build_s']} s\n" + _table(
        header, rows
    )


def streams_table(results: Results) -> str:
    held = results.get("open_streams")
    if unmeasured := _unmeasured("open streams", held):
        return unmeasured
    rows = [[name, _fmt(v["baseline"], 1), _fmt(v["peak"], 1)] for name, v in held["rss_mb"].items()]
    system = [v for name, v in held["rss_mb"].items() if name not in OUTSIDE]
    rows.append(["system", *(_fmt(sum(v[k] for v in system), 1) for k in ("baseline", "peak"))])
    title = (
        f"{held['streams']} streams: {held['peak_open']} open at once at peak, {held['finished']} finished,"
        f" {held['failed']} failed; {held['kb_per_stream']} KB per stream over the servers' baseline"
    )
    if held["first_error"]:
        title += f"\n  first error: {held['first_error'][:200]}"
    return title + "\n" + _table(["process", "RSS MB before", "RSS MB at peak"], rows)


def sporadic_table(results: Results) -> str:
    idle = results.get("sporadic")
    if unmeasured := _unmeasured("sporadic", idle):
        return unmeasured
    figures = ("idle_p50_ms", "idle_max_ms", "warm_p50_ms", "idle_minus_warm_p50_ms")
    rows = [
        [mode, str(len(v["idle_ms"])), *(_fmt(v[k]) for k in figures)] for mode, v in idle["modes"].items()
    ]
    header = ["mode", "samples", "idle p50", "idle max", "warm p50", "idle - warm"]
    title = f"sporadic: each request after {idle['gap_s']:.0f} s without traffic, then one warm (ms)"
    return title + "\n" + _table(header, rows)


def soak_table(results: Results) -> str:
    soaked = results.get("soak")
    if unmeasured := _unmeasured("soak", soaked):
        return unmeasured
    rows = [_soak_row(w) for w in soaked["windows"]]
    header = ["window", "at s", "responses", "req/s", "p50 ms", "p99 ms", "mongo cpu", "system cpu", "errors"]
    title = (
        f"soak at c={soaked['concurrency']}, {soaked['window_s']:.0f} s windows (cpu: ms per request):"
        f" {soaked['responses']} responses, {soaked['errors']} errors;"
        f" last window / first = {_fmt(soaked['last_vs_first'], 3)}"
    )
    return title + "\n" + _table(header, rows)


def _soak_row(window: Row) -> list[str]:
    lead = [str(window["window"]), _fmt(window["started_s"], 0), str(window["responses_total"])]
    figures = (window["p50_ms"], window["p99_ms"], window["mongo_cpu_ms"], window["system_cpu_ms"])
    return [*lead, _fmt(window["rps"], 1), *(_fmt(v) for v in figures), str(window["errors"])]


def goals_text(results: Results) -> str:
    lines = []
    for g in results["goals"]:
        mark = {True: "met", False: "MISSED", None: "n/a"}[g["met"]]
        lines.append(f"  [{mark:>6}] {g['goal']}: {_fmt(g['value'])} (goal {g['unit']} {g['limit']})")
    return "\n".join(lines)


def failures_text(results: Results) -> str:
    failed = [c for c in _sorted_cells(results) if c["first_error"]]
    lines = [
        f"  {c['target']} {c['mode']} c={c['concurrency']}: {c['errors']} errors,"
        f" first: {c['first_error'][:300]}"
        for c in failed
    ]
    lines += [f"  {name}: {t['error']}" for name, t in results["targets"].items() if t.get("error")]
    soaked = [w for w in (results.get("soak") or {}).get("windows", []) if w["first_error"]]
    lines += [
        f"  soak window {w['window']}: {w['errors']} errors, first: {w['first_error'][:300]}" for w in soaked
    ]
    return "\n".join(lines)


def render(results: Results) -> str:
    meta = results["meta"]
    parts = [
        f"bench {meta['started_at']}  ({meta['cpus']} CPUs, load average at start {meta['loadavg_start']},"
        f" LiteLLM {meta.get('litellm_version') or '-'}, {meta['tokens']} tokens per reply)",
        "",
        "Latency and throughput (ms; + = added over direct to the backend, same mode and concurrency)",
        latency_table(results),
        "",
        "CPU ms per request",
        cpu_table(results),
        "",
        "Peak RSS MB (VmHWM)",
        rss_table(results),
        "",
        chain_table(results),
        "",
        streams_table(results),
        "",
        sporadic_table(results),
        "",
        soak_table(results),
        "",
        "Goals",
        goals_text(results),
    ]
    if failures := failures_text(results):
        parts += ["", "Failures", failures]
    return "\n".join(parts)


def write(results: Results, out_dir: Path, stamp: str) -> list[Path]:
    """``<stamp>.json``, ``latest.json`` and ``latest.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    paths = [out_dir / f"{stamp}.json", out_dir / "latest.json"]
    for path in paths:
        path.write_text(text)
    from bench import plot  # matplotlib loads slowly; only a finished run needs it

    paths.append(plot.draw(results, out_dir / "latest.png"))
    return paths

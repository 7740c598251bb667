"""``python -m bench [--quick]``: the gateway against its backend and against LiteLLM; see README.md."""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.run import Plan, run
from bench.soak import SoakPlan

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGETS = ("direct", "gateway", "litellm", "litellm-db")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def parse_plan(argv: list[str] | None = None) -> tuple[Plan, Path]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short cells and smaller scenarios (~1.5 min)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of %(default)s")
    parser.add_argument("--concurrency", type=_ints, default=(1, 16, 64), help="default: 1,16,64")
    parser.add_argument("--duration", type=float, help="measured seconds per cell (default 8, quick 2)")
    parser.add_argument(
        "--warmup", type=float, help="unmeasured seconds before each cell (default 1, quick 0.5)"
    )
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per mock reply")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="mock's wait before each streamed token")
    parser.add_argument("--chain-depths", type=_ints, default=(1, 10, 100), help="default: 1,10,100")
    parser.add_argument("--chain-samples", type=int, help="requests per depth (default 30, quick 10)")
    parser.add_argument("--streams", type=int, help="streams held open at once (default 1000, quick 200)")
    parser.add_argument(
        "--hold", type=float, help="seconds each held stream stays open (default 30, quick 10)"
    )
    parser.add_argument(
        "--sporadic-count", type=int, help="requests per mode after an idle gap (default 6, quick 2; 0 skips)"
    )
    parser.add_argument("--sporadic-gap", type=float, default=6.0, help="seconds of silence before each")
    parser.add_argument("--soak-responses", type=int, default=50_000, help="the soak stops after this many")
    parser.add_argument("--soak-minutes", type=float, default=15.0, help="... or after this long")
    parser.add_argument("--soak-window", type=float, default=60.0, help="seconds per measured window")
    parser.add_argument("--soak-concurrency", type=int, default=16)
    only = parser.add_argument_group("single scenarios (gateway only; combine them to run several)")
    only.add_argument("--sporadic", action="store_true", help="only the sporadic scenario (~75 s)")
    only.add_argument("--soak", action="store_true", help="only the soak (up to --soak-minutes)")
    only.add_argument(
        "--chain", action="store_true", help="only the chain depths: a 100-turn chain against 1 turn (~1 min)"
    )
    only.add_argument(
        "--open-streams", action="store_true", help="only the open streams' memory (1,000 streams, ~1.5 min)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where JSON and PNG go")
    args = parser.parse_args(argv)
    unknown = set(args.targets.split(",")) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    quick = args.quick
    # --sporadic / --soak / --chain / --open-streams run those scenarios alone: no load table, no
    # other scenario, no LiteLLM.
    alone = args.sporadic or args.soak or args.chain or args.open_streams
    streams = args.streams if args.streams is not None else (200 if quick else 1000)
    sporadic_count = args.sporadic_count if args.sporadic_count is not None else (2 if quick else 6)
    plan = Plan(
        targets=("gateway",) if alone else tuple(t for t in TARGETS if t in args.targets.split(",")),
        concurrency=() if alone else args.concurrency,
        duration_s=args.duration if args.duration is not None else (2.0 if quick else 8.0),
        warmup_s=args.warmup if args.warmup is not None else (0.5 if quick else 1.0),
        tokens=args.tokens,
        delay_ms=args.delay_ms,
        chain_depths=args.chain_depths if args.chain or not alone else (),
        chain_samples=args.chain_samples or (10 if quick else 30),
        streams=streams if args.open_streams or not alone else 0,
        # Long enough for every stream to have started before the first ends, at the gateway's
        # stream-creation rate on 2 cores.
        hold_s=args.hold or (10.0 if quick else 30.0),
        sporadic=sporadic_count if args.sporadic or not alone else 0,
        sporadic_gap_s=args.sporadic_gap,
        soak=SoakPlan(
            responses=args.soak_responses,
            max_s=60 * args.soak_minutes,
            window_s=args.soak_window,
            concurrency=args.soak_concurrency,
        )
        if args.soak
        else None,
        work_dir=Path(tempfile.mkdtemp(prefix="bench-")),
    )
    return plan, args.out


def main(argv: list[str] | None = None) -> int:
    plan, out_dir = parse_plan(argv)
    print(f"bench: logs and data under {plan.work_dir}", file=sys.stderr)
    results = run(plan)
    print(report.render(results))
    paths = report.write(results, out_dir, time.strftime("%Y%m%d-%H%M%S"))
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0 if all(not t["error"] for t in results["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

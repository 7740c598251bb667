"""What the design's hops cost with no work in them: the floor under the gateway's added latency.

    python -m bench.floor                    # about 30 s
    python -m bench.floor --requests 300 --gap-ms 30

A new response crosses the log twice between three processes before its end comes back: the api
appends the request and waits for its ack, the translator consumes it and appends the chat call, the
worker consumes that and appends the response's events, which the api follows. This runs that chain
and nothing else: the .venv's ``nats-server`` on loopback with a file stream like the gateway's log
(``Nats-Msg-Id`` dedup), two relay processes on nats-py alone (a durable push consumer with manual
acks, an append awaited before the ack, as the services do, without FastStream, pydantic, sealing or a
backend call), and this process as the api: append, then wait for the relayed events on a core
subscription. The second relay appends ``--events`` events: the first is acknowledged before the rest
are sent (the worker's ledger), so the time to the last is the floor of a stream's first token
(created, in_progress, output_item.added, content_part.added, the first delta: 5) and the time to the
first is the floor of a plain response (one end event). Requests go one at a time, back to back
(``closed``) and ``--gap-ms`` apart (``spaced``, where every process sleeps between requests and is
woken by each hop). It prints one table; bench/README.md quotes it.
"""

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import uvloop
from nats.js.api import StorageType, StreamConfig

from bench.stats import percentile
from deploy.local.processes import free_port, stop_all, wait_until
from deploy.local.stack import nats_process, python_env

STREAM = "FLOOR"
_START_TIMEOUT_S = 30.0
_WARMUP = 20  # requests per run left out of the figures


async def relay(url: str, source: str, target: str, events: int) -> None:
    """Consume ``source``; append ``events`` events to ``target`` per message, the first acknowledged
    before the rest are sent; then ack the message."""
    nc = await nats.connect(url)
    js = nc.jetstream()

    async def on_message(msg) -> None:
        token = msg.data.decode()
        await js.publish(f"{target}.{token}", b"0", headers={"Nats-Msg-Id": f"{target}-{token}-0"})
        acks = [
            await js.publish_async(
                f"{target}.{token}", b"%d" % n, headers={"Nats-Msg-Id": f"{target}-{token}-{n}"}
            )
            for n in range(1, events)
        ]
        await asyncio.gather(*acks)
        await msg.ack()

    await js.subscribe(f"{source}.*", durable=source, manual_ack=True, cb=on_message)
    print("ready", flush=True)
    await asyncio.Event().wait()


async def measure(url: str, requests: int, events: int, gap_s: float) -> tuple[list[float], list[float]]:
    """Milliseconds from appending each request to its first and to its last relayed event."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def on_event(_) -> None:
        arrived.put_nowait(time.perf_counter())

    await nc.subscribe("out.*", cb=on_event)
    first, last = [], []
    for n in range(requests + _WARMUP):
        token = f"{gap_s * 1000:.0f}ms{n}"  # no dots: one subject token
        start = time.perf_counter()
        await js.publish(f"in.{token}", token.encode(), headers={"Nats-Msg-Id": f"in-{token}"})
        times = [await asyncio.wait_for(arrived.get(), 10) for _ in range(events)]
        if n >= _WARMUP:
            first.append((times[0] - start) * 1000)
            last.append((times[-1] - start) * 1000)
        await asyncio.sleep(gap_s)
    await nc.close()
    return first, last


async def _prepare(url: str) -> None:
    nc = await nats.connect(url)
    config = StreamConfig(
        name=STREAM, subjects=["in.*", "mid.*", "out.*"], storage=StorageType.FILE, duplicate_window=120
    )
    await nc.jetstream().add_stream(config)
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--gap-ms", type=float, default=30.0)
    parser.add_argument(
        "--relay", nargs=4, metavar=("URL", "SOURCE", "TARGET", "EVENTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.relay:
        url, source, target, events = args.relay
        uvloop.run(relay(url, source, target, int(events)))
        return
    work = Path(tempfile.mkdtemp(prefix="floor-"))
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    server = nats_process(port, work / "nats", work / "nats.log").start()
    relays: list[subprocess.Popen] = []
    try:
        wait_until(server.ready, "nats-server", _START_TIMEOUT_S, [server])
        uvloop.run(_prepare(url))
        for source, target, events in (("in", "mid", 1), ("mid", "out", args.events)):
            argv = [sys.executable, "-m", "bench.floor", "--relay", url, source, target, str(events)]
            child = subprocess.Popen(argv, env=python_env({}), stdout=subprocess.PIPE, text=True)
            relays.append(child)
            if child.stdout is None or child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the relay {source} → {target} did not start")
        print(
            f"{'requests':<9} {'to the first event p50 / p90':>29} {f'to event {args.events} p50 / p90':>26}"
        )
        for name, gap_s in (("closed", 0.0), ("spaced", args.gap_ms / 1000)):
            first, last = uvloop.run(measure(url, args.requests, args.events, gap_s))
            print(
                f"{name:<9} {statistics.median(first):>15.2f} / {percentile(first, 90):5.2f} ms"
                f" {statistics.median(last):>12.2f} / {percentile(last, 90):5.2f} ms"
            )
    finally:
        for child in relays:
            child.kill()
        stop_all([server])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""What FastStream's dispatch costs a consumed message, three ways: FastStream's defaults (the body
decoded as JSON, the message injected by fast_depends, ``max_workers`` handlers), the services'
broker (``shared.bus.new_broker``: the handler gets the delivered message, nothing decoded or
injected) with ``max_workers`` handlers, and the services' subscription as it is (``bus.subscribe``:
one message at a time through FastStream, each handled in a task of its own, ``shared.inhand``).

    python -m bench.dispatch_cost                  # 5,000 messages a run, 3 rounds, about 30 s
    python -m bench.dispatch_cost --messages 500 --rounds 1

Starts the .venv's ``nats-server`` on loopback and a file stream; for each way, publishes
``--messages`` event-sized messages into the stream, then starts a durable push consumer like the
services' (a deliver group, manual acks) and waits until the handler has acked each. The figure is
this process's CPU per message from the consumer's start: what the dispatch and the ack cost.
"""

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage

from deploy.local.processes import free_port, stop_all, wait_until
from deploy.local.stack import nats_process
from shared import bus
from shared.config import Settings
from shared.inhand import InHand

STREAM = "BENCH_DISPATCH"
SUBJECT = "bench.dispatch"
# About the size of a logged request of the bench's load (its sealed JSON envelope).
BODY = b'{"type":"requested","event_id":"evt_' + b"a" * 56 + b'","content":{"sealed":"' + b"x" * 1200 + b'"}}'
WORKERS = 16

Handler = Callable[[NatsMessage], Awaitable[None]]


def _subscribed(broker: NatsBroker, durable: str, handle: Handler, *, workers: int) -> None:
    options = {"max_workers": workers} if workers > 1 else {}
    broker.subscriber(
        SUBJECT,
        stream=JStream(STREAM, declare=False),
        durable=durable,
        queue=durable,
        ack_policy=AckPolicy.MANUAL,
        **options,
    )(handle)


def _defaults(url: str, durable: str, handle: Handler) -> NatsBroker:
    broker = NatsBroker(url, log_level=logging.DEBUG)
    _subscribed(broker, durable, handle, workers=WORKERS)
    return broker


def _services_with_workers(url: str, durable: str, handle: Handler) -> NatsBroker:
    broker = bus.new_broker(Settings(nats_url=url), "bench")
    _subscribed(broker, durable, handle, workers=WORKERS)
    return broker


def _services(url: str, durable: str, handle: Handler) -> NatsBroker:
    broker = bus.new_broker(Settings(nats_url=url), "bench")
    in_hand = InHand(handle, limit=WORKERS, grace_s=bus.GRACEFUL_TIMEOUT_S)
    _subscribed(broker, durable, in_hand.take, workers=1)
    return broker


Subscribe = Callable[[str, str, Handler], NatsBroker]
BROKERS: dict[str, Subscribe] = {
    "FastStream's defaults": _defaults,
    "the services' broker, max_workers": _services_with_workers,
    "the services' subscription (bus.subscribe: InHand)": _services,
}


async def cpu_us_per_message(url: str, subscribe: Subscribe, messages: int, durable: str) -> float:
    """A fresh durable on an emptied stream, so that it is delivered this run's messages only."""
    acked = 0
    done = asyncio.Event()

    async def handle(msg: NatsMessage) -> None:
        nonlocal acked
        await msg.ack()
        acked += 1
        if acked == messages:
            done.set()

    publisher = await nats.connect(url)
    js = publisher.jetstream()
    await js.purge_stream(STREAM)
    for _ in range(messages):
        await js.publish(SUBJECT, BODY, stream=STREAM)
    await publisher.close()
    started = time.process_time()
    broker = subscribe(url, durable, handle)
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), 120)
        return 1e6 * (time.process_time() - started) / messages
    finally:
        await broker.stop()


async def main_async(args: argparse.Namespace) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="dispatch-cost-"))
    port = free_port()
    server = nats_process(port, work / "nats", work / "nats.log").start()
    url = f"nats://127.0.0.1:{port}"
    results: dict[str, list[float]] = {name: [] for name in BROKERS}
    try:
        assert server.ready is not None
        wait_until(server.ready, "nats-server", 30.0, [server])
        admin = await nats.connect(url)
        await admin.jetstream().add_stream(name=STREAM, subjects=[SUBJECT])
        await admin.close()
        for round_ in range(args.rounds):
            for n, (name, make) in enumerate(BROKERS.items()):
                durable = f"bench_{round_}_{n}"
                results[name].append(await cpu_us_per_message(url, make, args.messages, durable))
    finally:
        stop_all([server])
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.messages} messages a run, {WORKERS} handlers")
    print("| broker | CPU µs per message, each round | median |")
    print("| --- | --- | --- |")
    for name, values in results.items():
        rounds = " / ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {rounds} | {statistics.median(values):.0f} |")
    return results


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

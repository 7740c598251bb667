"""What the libraries the services are built on hold for one open stream, piece by piece, without
the gateway's own code: the floor under the open-streams scenario's figure (bench/README.md).

    python -m bench.stream_memory                 # 1,000 of each, about 20 s
    python -m bench.stream_memory --count 100

Each piece is held ``--count`` times at once in this process and measured by ``tracemalloc``
(Python's heap, what the piece allocated; RSS grows by more, by the allocators' overhead), except the
stored messages, which live in nats-server and are measured by its resident memory:
- a JetStream message in a handler's hand until it is acked, as the worker holds a chat call for
  the whole of its run: through FastStream's subscriber (``shared.bus.new_broker``, as the services
  subscribe) and through nats-py's own push subscription, a task a message;
- a core NATS subscription waiting in ``next_msg``, as the api follows a streamed response;
- a backend stream held open by the worker's httpx client (``shared.chatclient``) against the
  bench's slow mock;
- a stored message of 600 bytes (about a streamed token's event) in nats-server's file stream, the
  log's storage: what JetStream keeps in memory of the messages it was just given.
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
from faststream import AckPolicy
from faststream.nats import JStream, NatsMessage

from bench import procs
from bench.dispatch_cost import BODY
from bench.run import _mock
from deploy.local.processes import free_port, stop_all, wait_until
from deploy.local.stack import nats_process
from shared import bus, chatclient, http11
from shared.config import Deployment, Settings

STREAM = "BENCH_HELD"
SUBJECT = "bench.held"
TOKEN_BYTES = 600
_SETTLE_S = 0.5


async def _traced_kb(hold: Callable[[], Awaitable[Any]], count: int) -> float:
    """Python heap KB per item: ``hold`` starts ``count`` items and returns once all are held."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await hold()
        await asyncio.sleep(_SETTLE_S)
        return (tracemalloc.get_traced_memory()[0] - before) / count / 1024
    finally:
        tracemalloc.stop()


async def messages_in_hand(url: str, count: int, *, faststream: bool) -> float:
    """KB a JetStream message costs while a handler holds it unacked."""
    admin = await nats.connect(url)
    js = admin.jetstream()
    await js.add_stream(name=STREAM, subjects=[SUBJECT])
    release, all_held = asyncio.Event(), asyncio.Event()
    held = 0

    async def handle(msg: NatsMessage | Any) -> None:
        nonlocal held
        held += 1
        if held == count:
            all_held.set()
        await release.wait()
        await msg.ack()

    stop: Callable[[], Awaitable[None]]
    if faststream:
        broker = bus.new_broker(Settings(nats_url=url), "bench")
        subscriber = broker.subscriber(
            SUBJECT,
            stream=JStream(STREAM, declare=False),
            durable="held",
            queue="held",
            max_workers=count,
            ack_policy=AckPolicy.MANUAL,
        )
        subscriber(handle)
        await broker.start()
        stop = broker.stop
    else:
        consumer = await nats.connect(url)
        tasks: set[asyncio.Task[None]] = set()

        async def each(msg: Any) -> None:
            task = asyncio.create_task(handle(msg))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        await consumer.jetstream().subscribe(SUBJECT, durable="held", queue="held", cb=each, manual_ack=True)
        stop = consumer.close

    async def hold() -> None:
        for _ in range(count):
            await js.publish(SUBJECT, BODY, stream=STREAM)
        await asyncio.wait_for(all_held.wait(), 60)

    try:
        return await _traced_kb(hold, count)
    finally:
        release.set()
        await asyncio.sleep(_SETTLE_S)
        await stop()
        await js.delete_stream(STREAM)
        await admin.close()


async def waiting_subscriptions(url: str, count: int) -> float:
    """KB a core subscription costs while a reader waits on it, as the api's watch of a stream."""
    connection = await nats.connect(url)
    waiting: list[asyncio.Task[Any]] = []

    async def hold() -> None:
        for n in range(count):
            sub = await connection.subscribe(f"resp.held{n}.>")
            waiting.append(asyncio.create_task(sub.next_msg(timeout=None)))
        await connection.flush()

    try:
        return await _traced_kb(hold, count)
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        await connection.close()


async def backend_streams(
    mock_url: str, count: int, transport: Callable[[], httpx.AsyncBaseTransport] = http11.Pool
) -> float:
    """KB a streamed chat call costs the worker's client (its pools made by ``transport``)
    while the backend holds it open."""
    deployment = Deployment(id="held", name="held", model="held", api_base=f"{mock_url}/v1")
    body = {"model": "held", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    calls: list[asyncio.Task[None]] = []

    async def held(client: Any, n: int) -> None:
        """``n`` calls more, each past its first chunk (the mock then waits before its tokens)."""
        started = asyncio.Semaphore(0)

        async def call() -> None:
            async for _ in chatclient.chat_chunks(client, deployment, body):
                started.release()
                await asyncio.Event().wait()

        calls.extend(asyncio.create_task(call()) for _ in range(n))
        for _ in range(n):
            await asyncio.wait_for(started.acquire(), 60)

    async with chatclient.new_client(transport) as client:
        try:
            await held(client, 1)  # the client's pool exists before the measure
            calls.pop().cancel()
            return await _traced_kb(lambda: held(client, count), count)
        finally:
            for task in calls:
                task.cancel()
            await asyncio.gather(*calls, return_exceptions=True)


async def stored_messages(url: str, server_pid: int, count: int) -> float:
    """KB of nats-server's resident memory a stored message of ``TOKEN_BYTES`` costs, ``count`` of
    them appended into a file stream."""
    connection = await nats.connect(url)
    js = connection.jetstream()
    await js.add_stream(name=STREAM, subjects=[f"{SUBJECT}.>"])
    payload = os.urandom(TOKEN_BYTES)
    try:
        before = procs.snapshot({"nats": server_pid})["nats"].rss_kb
        acks = [await js.publish_async(f"{SUBJECT}.{n}", payload) for n in range(count)]
        await asyncio.gather(*acks)
        await asyncio.sleep(_SETTLE_S)
        return (procs.snapshot({"nats": server_pid})["nats"].rss_kb - before) / count
    finally:
        await js.delete_stream(STREAM)
        await connection.close()


async def main_async(count: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="stream-memory-"))
    port = free_port()
    server = nats_process(port, work / "nats", work / "nats.log").start()
    processes = [server]
    try:
        assert server.ready is not None and server.pid is not None
        wait_until(server.ready, "nats-server", 30.0, processes)
        url = f"nats://127.0.0.1:{port}"
        # Its role chunk comes at once, its first token a minute later: each call stays open.
        mock = _mock("mock-hold", 2, 60_000.0, work)
        processes.append(mock)
        assert mock.url is not None
        return {
            "a message in hand, FastStream (the services' broker)": await messages_in_hand(
                url, count, faststream=True
            ),
            "a message in hand, nats-py push subscription": await messages_in_hand(
                url, count, faststream=False
            ),
            "a core subscription waiting in next_msg": await waiting_subscriptions(url, count),
            "a backend stream held open (httpx)": await backend_streams(mock.url, count),
            f"a stored message of {TOKEN_BYTES} bytes (nats-server RSS)": await stored_messages(
                url, server.pid, count * 10
            ),
        }
    finally:
        stop_all(processes)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="of each piece held at once")
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args.count))
    print(f"{args.count} of each held at once (stored messages: {args.count * 10})")
    print("| piece | KB each |")
    print("| --- | --- |")
    for name, kb in results.items():
        print(f"| {name} | {kb:.1f} |")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

"""How fast the log replays into a fresh projection: the audit's ``verify`` and a rebuild after an
outage read every event the store reads and fold it through the store's own code.

    python -m bench.replay                  # 2,000 responses, then one replay, about two minutes
    python -m bench.replay --responses 500

It starts a local stack (deploy/local, embedded NATS and the MongoDB stand-in), makes ``--responses``
stored responses through the api at concurrency 16, waits until the projection holds them, then times
``services.store.rebuild.rebuild`` (responses and usage, sealed events opened with the stack's master
key) into scratch collections of the same MongoDB, and prints events read, seconds and events per
second, twice: one replay with a cold key cache, one with a warm one.
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import nats
from pymongo import AsyncMongoClient

from deploy.local.stack import Stack
from services.store import rebuild
from shared import eventlog, sealing
from shared.readmodel import repository, usage

_CONCURRENCY = 16
_TTL_S = 3600


async def _make(api_url: str, count: int) -> None:
    remaining = iter(range(count))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"{api_url}/v1", timeout=60) as http:
            for n in remaining:
                reply = await http.post("/responses", json={"model": "echo", "input": f"replayed {n}"})
                reply.raise_for_status()

    await asyncio.gather(*(client() for _ in range(_CONCURRENCY)))


async def _replay(stack: Stack, count: int) -> list[tuple[str, int, float]]:
    await _make(stack.api_url, count)
    mongo = AsyncMongoClient(stack.mongo_uri)
    nc = await nats.connect(stack.nats_url)
    try:
        db = mongo[stack.mongo_db]
        while await repository.responses(db).count_documents({"status": "completed"}) < count:
            await asyncio.sleep(0.5)  # the projection catches up; replaying before it would differ
        js = nc.jetstream()
        await eventlog.seal_with(js, sealing.master_keys_from(stack.extra_env), ttl_s=_TTL_S)
        rows = []
        for label in ("cold key cache", "warm key cache"):
            targets = [db[f"bench_replay_{name}"] for name in (repository.COLLECTION, usage.COLLECTION)]
            started = time.monotonic()
            read = await rebuild.rebuild(js, targets[0], ttl_s=_TTL_S, usage_target=targets[1])
            rows.append((label, read, time.monotonic() - started))
            for target in targets:
                await target.drop()
        return rows
    finally:
        await nc.close()
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as folder, Stack(Path(folder)) as stack:
        rows = asyncio.run(_replay(stack, args.responses))
    print(f"{'replay':>16} {'events':>8} {'seconds':>8} {'events/s':>9}")
    for label, read, seconds in rows:
        print(f"{label:>16} {read:>8} {seconds:>8.2f} {read / seconds:>9,.0f}")


if __name__ == "__main__":
    main()

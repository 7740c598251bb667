"""What the projection's reads cost the embedded MongoDB stand-in as it fills up, by query shape.

    python -m bench.store_reads                   # about a minute
    python -m bench.store_reads --sizes 1000,5000,20000 --reads 200

Starts the stand-in as ``./dev up`` does, with the responses collection's indexes, and fills it with
foreground responses as the store writes them (``projection.together``), all of one tenant as a
one-project deployment has them. At each of ``--sizes`` it reads ``--reads`` random responses by
each shape, the shapes in turn (twice, in opposite orders) so the machine's swings fall on each:

- ``by id, owner filtered``: the id, the tenant and "not deleted" in one filter (a read by id, a
  ``previous_response_id``, before 2026-11-27);
- ``by id``: ``queries.get_response_doc``, the id alone, owner and tombstone checked in hand;
- ``items, one $or``: an ``item_reference``'s item looked up among inputs and outputs in one ``$or``
  (before 2026-11-27);
- ``items, by index``: ``queries.find_items``, one query for each of the two multikey indexes.

The figure is the stand-in's CPU time per read (user + system, from ``/proc``). It prints one table,
with how many reads found their document (all of them, or the shape is broken); bench/README.md
quotes it.
"""

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pymongo import InsertOne
from pymongo.asynchronous.database import AsyncDatabase

from bench.store_writes import TTL_S, cpu_s, response_pair, standin
from shared.domain import projection
from shared.ids import derived_id
from shared.readmodel import queries, repository

TENANT = "tenant_bench"
_FILL_BATCH = 500

Read = Callable[[AsyncDatabase, str], Awaitable[bool]]


async def _by_id_owner_filtered(db: AsyncDatabase, response_id: str) -> bool:
    query = {"_id": response_id, "tenant": TENANT, "deleted": {"$ne": True}}
    return await repository.responses(db).find_one(query) is not None


async def _by_id(db: AsyncDatabase, response_id: str) -> bool:
    return await queries.get_response_doc(db, tenant=TENANT, response_id=response_id) is not None


async def _items_one_or(db: AsyncDatabase, response_id: str) -> bool:
    ids = _item_ids(response_id)
    query = {
        "tenant": TENANT,
        "deleted": {"$ne": True},
        "$or": [{"input_items.id": {"$in": ids}}, {"response.output.id": {"$in": ids}}],
    }
    found = [doc async for doc in repository.responses(db).find(query, {"_id": 1})]
    return len(found) == 1


async def _items_by_index(db: AsyncDatabase, response_id: str) -> bool:
    ids = _item_ids(response_id)
    return len(await queries.find_items(db, tenant=TENANT, item_ids=ids)) == len(ids)


def _item_ids(response_id: str) -> list[str]:
    """The response's input message and its answer, as an ``item_reference`` names them."""
    return [derived_id("msg", response_id, "input", 0), derived_id("msg", response_id, "out", 0)]


SHAPES: dict[str, Read] = {
    "by id, owner filtered": _by_id_owner_filtered,
    "by id": _by_id,
    "items, one $or": _items_one_or,
    "items, by index": _items_by_index,
}


def _response_id(n: int) -> str:
    return f"resp_{n:08d}"


async def _fill(db: AsyncDatabase, start: int, end: int) -> None:
    now = int(time.time())  # not expired: the stand-in's TTL monitor would remove them mid-run
    for first in range(start, end, _FILL_BATCH):
        docs = [
            projection.together(*response_pair(_response_id(n), created_at=now), ttl_s=TTL_S)
            for n in range(first, min(first + _FILL_BATCH, end))
        ]
        await repository.responses(db).bulk_write([InsertOne(doc) for doc in docs], ordered=False)


async def measure(sizes: list[int], reads: int, work: Path) -> dict[tuple[int, str], tuple[float, int]]:
    """Per size and shape: the stand-in's CPU ms per read, and how many of the reads found theirs."""
    results: dict[tuple[int, str], tuple[float, int]] = {}
    async with standin(work) as (server, db):
        await repository.ensure_indexes(repository.responses(db))
        held = 0
        for size in sizes:
            await _fill(db, held, size)
            held = size
            picks = [_response_id(random.randrange(size)) for _ in range(reads)]
            spent, found = dict.fromkeys(SHAPES, 0.0), dict.fromkeys(SHAPES, 0)
            # Each shape's reads in a row (the kernel counts CPU in 10 ms ticks), the shapes in turn,
            # twice in opposite orders.
            for order in (list(SHAPES), list(reversed(SHAPES))):
                for shape in order:
                    before = cpu_s(server)
                    for response_id in picks:
                        found[shape] += await SHAPES[shape](db, response_id)
                    spent[shape] += cpu_s(server) - before
            for shape in SHAPES:
                results[(size, shape)] = (1000 * spent[shape] / (2 * reads), found[shape] // 2)
    return results


def _table(results: dict[tuple[int, str], tuple[float, int]], reads: int) -> list[str]:
    sizes = sorted({size for size, _ in results})
    lines = [
        "| read | " + " | ".join(f"{size:,} responses" for size in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for shape in SHAPES:
        cells = [results[(size, shape)] for size in sizes]
        lines.append(f"| {shape} | " + " | ".join(f"{ms:.2f} ms ({hit}/{reads})" for ms, hit in cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000", help="responses held at each measurement")
    parser.add_argument("--reads", type=int, default=100, help="reads of each shape at each size")
    parser.add_argument("--dir", default=".data", help="where the stand-in keeps its files (a real disk)")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    work = Path(tempfile.mkdtemp(prefix="store-reads-", dir=args.dir))
    started = time.monotonic()
    try:
        results = asyncio.run(measure(sizes, args.reads, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    took = time.monotonic() - started
    print(f"{args.reads} reads of each shape a size, twice, {took:.0f} s; the stand-in's CPU per read")
    print("\n".join(_table(results, args.reads)))


if __name__ == "__main__":
    main()

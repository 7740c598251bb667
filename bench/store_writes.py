"""What the store's writes of one response cost the embedded MongoDB stand-in, by write pattern.

    python -m bench.store_writes                  # about three minutes
    python -m bench.store_writes --responses 3000 --rounds 3

Starts the stand-in as ``./dev up`` does (standalone, its store on ``--dir``) and, for comparison, as
it was started before: advertising a single-node replica set, where it keeps an oplog entry for every
document it changes. Into each it writes ``--responses`` foreground responses the way the store does,
in bulk writes of ``--batch`` responses, the responses collection's and usage's indexes in place:

- ``upserts``: the request's upsert, the end's upsert (each guarded, ``projection.write_for``) and
  the end's usage upsert: what the store wrote for every response before this pass;
- ``guarded``: the same with the usage document inserted (``Write.insert``): what the store writes
  when a response's end comes later than its request is held;
- ``together``: one insert of the document the request and the end make (``projection.together``)
  and the usage insert: what the store writes when the end comes while its request is held
  (``services/store/pairing.py``).

Each bulk's two commands (the responses' and usage's) go one after the other, as the store sends
them (``bulk.GroupWriter``'s shared line); one more row sends the ``together`` pattern's two at once,
as the store did before, to show what overlapping commands cost the stand-in.

The figure is the stand-in's CPU time (user + system, from ``/proc``) per response; the patterns
alternate ``--rounds`` times, so the machine's swings fall on each. It prints one table;
bench/README.md quotes it.
"""

import argparse
import asyncio
import contextlib
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from bench import procs
from deploy.local.processes import Process, free_port, stop_all, wait_until
from deploy.local.stack import mongo_process
from shared.domain import projection, usage
from shared.domain.projection import Write
from shared.domain.requests import build_response
from shared.events import ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.readmodel import repository
from shared.readmodel import usage as usage_readmodel
from shared.request_model import ResponseCreateRequest

TTL_S = 86_400
CREATED_AT = 1_700_000_000
_REPLY = "Hello there, this is a sixteen token reply from the bench's mock backend."

Ops = tuple[list[InsertOne | UpdateOne], list[InsertOne | UpdateOne]]


def response_pair(
    response_id: str, *, created_at: int = CREATED_AT
) -> tuple[ResponseRequested, ResponseStreamed]:
    """A foreground response's request and its end, as the bench's one-line request makes them."""
    request = ResponseCreateRequest(model="bench", input="Say hello in one short sentence.")
    requested = ResponseRequested(
        event_id=derived_id("evt", response_id, "requested"),
        response_id=response_id,
        tenant="tenant_bench",
        request=request,
        created_at=created_at,
    )
    item = {
        "id": derived_id("msg", response_id, "out", 0),
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": _REPLY, "annotations": []}],
    }
    response = build_response(request, response_id=response_id, created_at=created_at, status="completed")
    body = {"type": "response.completed", "sequence_number": 9, "response": {**response, "output": [item]}}
    return requested, ResponseStreamed.of(body, response_id=response_id, tenant="tenant_bench")


def upserts(requested: ResponseRequested, end: ResponseStreamed) -> Ops:
    return _guarded(requested, end), [_upsert(_usage(end))]


def guarded(requested: ResponseRequested, end: ResponseStreamed) -> Ops:
    return _guarded(requested, end), [InsertOne(_usage(end).insert)]


def together(requested: ResponseRequested, end: ResponseStreamed) -> Ops:
    return [InsertOne(projection.together(requested, end, ttl_s=TTL_S))], [InsertOne(_usage(end).insert)]


def _guarded(requested: ResponseRequested, end: ResponseStreamed) -> list[InsertOne | UpdateOne]:
    return [_upsert(w) for e in (requested, end) if (w := projection.write_for(e, ttl_s=TTL_S))]


def _upsert(write: Write) -> UpdateOne:
    return UpdateOne(write.filter, write.update, upsert=True)


def _usage(end: ResponseStreamed) -> Write:
    write = usage.write_for(end)
    assert write is not None and write.insert is not None
    return write


PATTERNS: dict[str, Callable[[ResponseRequested, ResponseStreamed], Ops]] = {
    "upserts": upserts,
    "guarded": guarded,
    "together": together,
}


async def cpu_ms_per_response(
    *, replica_set: bool, pattern: str, at_once: bool, responses: int, batch: int, work: Path
) -> tuple[float, int]:
    """The stand-in's CPU per response for ``responses`` written by ``pattern`` into a fresh server
    (each bulk's two commands ``at_once`` or in turn), and how many response documents it then
    holds."""
    async with standin(work, replica_set=replica_set) as (server, db):
        await repository.ensure_indexes(db["responses"])
        await usage_readmodel.ensure_indexes(db["usage"])
        pairs = [response_pair(f"resp_{n:08d}") for n in range(responses)]
        before = cpu_s(server)
        for start in range(0, responses, batch):
            ops = [PATTERNS[pattern](*p) for p in pairs[start : start + batch]]
            commands = (
                db["responses"].bulk_write([op for own, _ in ops for op in own], ordered=False),
                db["usage"].bulk_write([op for _, used in ops for op in used], ordered=False),
            )
            if at_once:
                await asyncio.gather(*commands)
            else:
                for command in commands:
                    await command
        after = cpu_s(server)
        documents = await db["responses"].count_documents({})
    return (after - before) * 1000 / responses, documents


@contextlib.asynccontextmanager
async def standin(work: Path, *, replica_set: bool = False) -> AsyncIterator[tuple[Process, AsyncDatabase]]:
    """A fresh stand-in started as ``./dev up`` starts it (or advertising a replica set), its files
    under ``work``, and a database on it; stopped on the way out."""
    port = free_port()
    server = mongo_process(port, work / f"mongo-{port}", work / "mongo.log")
    if replica_set:
        server.argv.remove("--standalone")
    server.start()
    try:
        wait_until(server.ready, "the stand-in", 30.0, [server])
        async with AsyncMongoClient(f"mongodb://127.0.0.1:{port}", retryWrites=False) as client:
            yield server, client["bench"]
    finally:
        stop_all([server])


def cpu_s(server: Process) -> float:
    """The server's CPU time so far (user and system), in seconds."""
    assert server.pid is not None
    return procs.snapshot({"mongo": server.pid})["mongo"].cpu_s


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="store-writes-", dir=args.dir))
    cells = [(rs, pattern, False) for rs in (True, False) for pattern in PATTERNS]
    cells.append((False, "together", True))
    results: dict[tuple[bool, str, bool], list[float]] = {cell: [] for cell in cells}
    documents: dict[tuple[bool, str, bool], int] = {}
    started = time.monotonic()
    try:
        for _ in range(args.rounds):
            for cell in cells:
                replica_set, pattern, at_once = cell
                ms, documents[cell] = await cpu_ms_per_response(
                    replica_set=replica_set,
                    pattern=pattern,
                    at_once=at_once,
                    responses=args.responses,
                    batch=args.batch,
                    work=work,
                )
                results[cell].append(ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.responses} responses a run, bulks of {args.batch}, {time.monotonic() - started:.0f} s")
    print("| stand-in | writes | commands | documents | CPU ms per response, each round | median |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (replica_set, pattern, at_once), values in results.items():
        mode = "replica set (before)" if replica_set else "standalone (`./dev up`)"
        rounds = " / ".join(f"{v:.2f}" for v in values)
        written = documents[(replica_set, pattern, at_once)]
        sent = "at once" if at_once else "in turn"
        print(f"| {mode} | {pattern} | {sent} | {written} | {rounds} | {statistics.median(values):.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=12, help="responses per bulk write")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", default=".data", help="where the stand-in keeps its files (a real disk)")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

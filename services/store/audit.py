"""The operator's audit of the event log, the source of truth::

    python -m services.store.audit show RESPONSE_ID        # its events: type, number, time, who, where
    python -m services.store.audit export --since 2026-11-01T00:00:00Z > events.jsonl   # for a SIEM
    python -m services.store.audit verify                  # rebuild into scratch collections, compare
    python -m services.store.audit erase --project NAME    # destroy every data key of a project

Every event is shown as its envelope (ids, type, times, tenant, key id, model, deployment, status,
token counts), which stays readable after a response's data key is destroyed; ``show`` adds the
content while the key exists and the master key is in the environment. ``export`` never writes
content: envelopes only.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from services.store import rebuild
from shared import erasure, eventlog, mongo, sealing, startup, subjects
from shared.config import ConfigError, Settings, master_keys
from shared.datakeys import DataKeys, KeyDestroyed

# Fields of a message that carry content: shown by ``show`` (when they open), never exported.
_CONTENT = frozenset(field for fields in eventlog.CONTENT_FIELDS.values() for field in fields)
_IDLE_S = 2.0


async def logged(js: JetStreamContext, subject: str, start: ConsumerConfig) -> AsyncIterator[Any]:
    """The raw messages of ``subject`` in log order, from ``start`` (its deliver policy) to the last one
    present now."""
    sub = await js.subscribe(subject, stream=subjects.STREAM, ordered_consumer=True, config=start)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=_IDLE_S)
            except TimeoutError:
                return
            yield msg
            if msg.metadata.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


def envelope(msg: Any) -> dict[str, Any]:
    """What a message shows without its data key: every field but content, plus where it was logged."""
    try:
        wire = json.loads(msg.data)
    except ValueError:
        return {"unreadable": True, "subject": msg.subject, "stream_seq": msg.metadata.sequence.stream}
    seen = {k: v for k, v in wire.items() if k not in _CONTENT}
    return {**seen, "subject": msg.subject, "stream_seq": msg.metadata.sequence.stream}


async def show(js: JetStreamContext, response_id: str, *, with_content: bool) -> list[dict[str, Any]]:
    """One line per event of a response: its envelope, and its content while that can be read."""
    lines = []
    async for msg in logged(js, f"resp.{response_id}.>", ConsumerConfig(deliver_policy=DeliverPolicy.ALL)):
        line = envelope(msg)
        if with_content:
            line["content"] = await _content(js, msg)
        lines.append(line)
    return lines


async def _content(js: JetStreamContext, msg: Any) -> Any:
    try:
        event = await eventlog.decode(js, msg)
    except KeyDestroyed:
        return "erased (the response's data key was destroyed)"
    fields = eventlog.CONTENT_FIELDS.get(type(event), ())
    return event.model_dump(mode="json", include=set(fields)) or None


async def export(js: JetStreamContext, since: datetime, out: Any) -> int:
    """Write every envelope logged at or after ``since`` as JSON lines; returns how many."""
    written = 0
    start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since.isoformat())
    async for msg in logged(js, ">", start):
        out.write(json.dumps(envelope(msg), separators=(",", ":"), default=str) + "\n")
        written += 1
    return written


async def _seal(js: JetStreamContext, settings: Settings) -> DataKeys:
    return await eventlog.seal_with(
        js, master_keys(), ttl_s=settings.response_ttl_s, replicas=settings.stream_replicas
    )


async def _erase(nc: Client, settings: Settings, project: str) -> int:
    js = nc.jetstream()
    keys = await _seal(js, settings)
    client = mongo.client(settings.mongo_uri)
    try:
        erased = await erasure.erase_tenant(keys, client[settings.mongo_db], js, project)
        print(json.dumps(erased.report()))
    finally:
        await client.close()
    return 0


async def _read(nc: Client, settings: Settings, args: argparse.Namespace) -> int:
    """``show`` or ``export``: content is shown only where the master key is given."""
    js = nc.jetstream()
    with_content = args.command == "show" and not args.no_content
    if with_content:
        try:
            await _seal(js, settings)
        except ConfigError as error:
            print(f"audit: content not shown: {error}", file=sys.stderr)
            with_content = False
    if args.command == "export":
        print(f"audit: exported {await export(js, args.since, sys.stdout)} events", file=sys.stderr)
        return 0
    lines = await show(js, args.response_id, with_content=with_content)
    if not lines:
        print(f"audit: no event of {args.response_id} in the log", file=sys.stderr)
        return 1
    for line in lines:
        print(json.dumps(line, default=str))
    return 0


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.store.audit", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show_cmd = commands.add_parser("show", help="a response's event history")
    show_cmd.add_argument("response_id")
    show_cmd.add_argument("--no-content", action="store_true", help="envelopes only")
    export_cmd = commands.add_parser("export", help="envelopes as JSON lines, for a SIEM")
    export_cmd.add_argument("--since", required=True, type=datetime.fromisoformat, help="ISO 8601 time")
    commands.add_parser("verify", help="rebuild the projection into scratch collections and compare")
    erase_cmd = commands.add_parser("erase", help="destroy every data key and response of a project")
    erase_cmd.add_argument("--project", required=True)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command == "verify":
        return await rebuild.verify(settings)
    if args.command == "erase":
        return await startup.run_cli(settings, lambda nc: _erase(nc, settings, args.project))
    return await startup.run_cli(
        settings,
        lambda nc: _read(nc, settings, args),
        expected=(NotFoundError, sealing.SealingError),
        explain=lambda error: f"audit: {error}",
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

"""Operators' view of the dead-letter stream (``shared/deadletter.py``), with the services' NATS settings
(``NATS_URL`` and its credentials)::

    python -m shared.deadletter_cli list [--consumer translator] [--limit 100]
    python -m shared.deadletter_cli show SEQ      # headers, then the event (a claim check resolved)
    python -m shared.deadletter_cli redrive SEQ   # republish to its original subject, delete the letter
    python -m shared.deadletter_cli purge SEQ     # delete the letter
"""

import argparse
import asyncio
import json
import sys

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from shared import deadletter, eventlog, startup, subjects
from shared.config import Settings


async def show(js: JetStreamContext, letter: deadletter.Letter) -> str:
    """The letter's headers, then its event (a claim check resolved), or its raw body if it is none."""
    lines = [f"{k}: {v}" for k, v in sorted(letter.headers.items())]
    try:
        event = await eventlog.decode(js, RawStreamMsg(data=letter.data, headers=letter.headers))
        body = json.dumps(event.model_dump(mode="json"), indent=2, ensure_ascii=False)
    except Exception as error:  # it may be a letter precisely because it is no event
        body = f"(not an event: {type(error).__name__})\n{letter.data.decode(errors='replace')}"
    return "\n".join([*lines, "", body])


def summary(letter: deadletter.Letter) -> str:
    return (
        f"{letter.sequence}\t{letter.consumer}\t{letter.original_subject} (seq {letter.original_sequence}, "
        f"{letter.deliveries} deliveries)\t{letter.reason}"
    )


async def run(js: JetStreamContext, args: argparse.Namespace) -> None:
    if args.command == "list":
        shown = 0
        async for letter in deadletter.letters(js, consumer=args.consumer):
            if shown == args.limit:
                print(f"... and more (--limit {args.limit})")
                return
            print(summary(letter))
            shown += 1
    elif args.command == "show":
        print(await show(js, await deadletter.letter(js, args.seq)))
    elif args.command == "redrive":
        print(f"redriven: {subjects.STREAM} seq {await deadletter.redrive(js, args.seq)}")
    else:
        await deadletter.purge(js, args.seq)
        print(f"purged {args.seq}")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.deadletter_cli", description="Dead letters.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line a letter: seq, consumer, original, reason")
    listing.add_argument("--consumer", help="only this consumer's letters (translator, worker, store)")
    listing.add_argument("--limit", type=int, default=100)
    for name, text in [
        ("show", "the headers and the event of one letter"),
        ("redrive", "republish a letter to its original subject, then delete it"),
        ("purge", "delete a letter"),
    ]:
        commands.add_parser(name, help=text).add_argument("seq", type=int, help="the letter's sequence")
    return parser


async def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)

    async def command(nc: Client) -> int:
        await run(nc.jetstream(), args)
        return 0

    return await startup.run_cli(
        Settings.from_env(),
        command,
        expected=(NotFoundError,),
        explain=lambda _: f"not found in {deadletter.STREAM}",
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

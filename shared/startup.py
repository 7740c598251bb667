"""Starting a process: a service's event loop, and one line instead of a traceback when its
configuration must not run (a missing secret, an unknown mode); an operator's command on a NATS
connection of its own."""

import sys
from collections.abc import Awaitable, Callable

import nats
import uvloop
from nats.aio.client import Client

from shared.bus import connect_options
from shared.config import ConfigError, Settings


def run(service: str, main: Callable[[], Awaitable[None]]) -> None:
    try:
        uvloop.run(main())
    except ConfigError as error:
        # Non-zero, so a supervisor does not take the service for running.
        sys.exit(f"{service}: cannot start: {error}")


async def run_cli(
    settings: Settings,
    work: Callable[[Client], Awaitable[int]],
    *,
    expected: tuple[type[Exception], ...] = (),
    explain: Callable[[Exception], str] = str,
) -> int:
    """A CLI's command on the services' NATS: ``work``'s exit status, or 1 with the one line ``explain``
    writes to stderr when it fails in an ``expected`` way (anything else is a bug: its traceback stays).
    The connection is closed either way."""
    nc = await nats.connect(**connect_options(settings))
    try:
        return await work(nc)
    except expected as error:
        print(explain(error), file=sys.stderr)
        return 1
    finally:
        await nc.close()

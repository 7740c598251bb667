"""Starting a service process: its event loop, and one line instead of a traceback when
its configuration must not run (a missing secret, an unknown mode)."""

import sys
from collections.abc import Awaitable, Callable

import uvloop

from shared.config import ConfigError


def run(service: str, main: Callable[[], Awaitable[None]]) -> None:
    try:
        uvloop.run(main())
    except ConfigError as error:
        # Non-zero, so a supervisor does not take the service for running.
        sys.exit(f"{service}: cannot start: {error}")

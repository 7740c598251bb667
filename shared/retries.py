"""Which failures are worth retrying, and retrying them within a bounded budget.

Transient means the outside world did not answer (NATS or MongoDB unreachable, a stream without a
leader during an election, a timeout): the same call may succeed later. Anything else (a message
that does not parse, a bug, data that cannot be stored) fails the same way every time, so retrying it
would only stall the caller.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import nats.errors
import nats.js.errors
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from shared.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# What the outside world raises when it is unreachable or slow. nats.errors.TimeoutError is also a
# TimeoutError; ConnectionFailure covers pymongo's AutoReconnect, NetworkTimeout and
# ServerSelectionTimeoutError; ServiceUnavailable is what a bounded retry raises once spent.
_TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.TooManyStalledMsgsError,
    ConnectionFailure,
    ExecutionTimeout,
    WTimeoutError,
    ServiceUnavailable,
)


class Transient(Exception):
    """Raised for a failure known to be worth retrying (a dependency said "later")."""


def is_transient(error: BaseException) -> bool:
    return isinstance(error, (Transient, *_TRANSIENT))


@dataclass(frozen=True)
class Budget:
    """Attempts of at most ``attempt_s`` each, the n-th retry after ``first_delay_s * 2**(n-1)``
    (capped at ``max_delay_s``), none starting after ``total_s``. The defaults outlast a JetStream
    leader election (about 5 s)."""

    total_s: float = 12.0
    attempt_s: float = 3.0
    first_delay_s: float = 0.1
    max_delay_s: float = 1.0


PUBLISH = Budget()
# The shortest timeout an attempt gets, even when the budget is almost spent.
_MIN_ATTEMPT_S = 0.5

T = TypeVar("T")


async def retrying(
    attempt: Callable[[float], Awaitable[T]],
    *,
    what: str,
    budget: Budget = PUBLISH,
    unavailable: str = "The service is temporarily unavailable; please retry the request.",
) -> T:
    """``attempt(timeout_s)`` until it succeeds, fails permanently (raised as is) or the budget is
    spent: then ``ServiceUnavailable(unavailable)``, whose cause is the last failure. ``what`` names
    the call in the log."""
    loop = asyncio.get_running_loop()
    until = loop.time() + budget.total_s
    delay = budget.first_delay_s
    tries = 0
    while True:
        tries += 1
        timeout = min(budget.attempt_s, max(until - loop.time(), _MIN_ATTEMPT_S))
        try:
            # Also bounds an attempt that does not honour its own timeout. Unlike wait_for, it runs
            # the attempt in this task: no task to make, and what the attempt sends goes out in one
            # write with what this task sent just before (a subscription, say).
            async with asyncio.timeout(timeout + 1.0):
                return await attempt(timeout)
        except Exception as error:
            if not is_transient(error):
                raise
            if loop.time() + delay >= until:
                log.error("%s failed %d times, giving up: %r", what, tries, error)
                raise ServiceUnavailable(unavailable) from error
            log.warning("%s failed (try %d), retrying in %.2fs: %r", what, tries, delay, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, budget.max_delay_s)

"""How every JetStream consumer ends a message, so that no message is retried forever.

    work done                       -> ack
    transient failure, deliveries left  -> nak with a growing delay (redelivered later)
    transient failure, none left        -> dead-lettered, the response ended failed, terminated
    any other failure (permanent)       -> dead-lettered, the response ended failed, terminated

Transient means the outside world did not answer (NATS or MongoDB unreachable, a timeout: see
``shared.retries``): the same message may succeed later. Anything else (a message that does not
parse, a bug, data that cannot be stored) fails the same way on every delivery, so retrying it would
only stall the consumer and flood the log. A handler subscribes with ``ack_policy=AckPolicy.MANUAL``
and ``max_deliver`` from its ``Redelivery``, and hands its work to ``settle``. At start, a service
runs ``update_durable`` for its consumer, so a durable made by an older version gets the same limits.

A message whose every delivery was lost to a dead process (no handler ran to the end) never reaches
``settle`` a last time: ``shared.deadletter.watch_exhausted`` dead-letters it instead.

A message's ack wait runs from its delivery, not from its handler's start: in a burst on a busy
process (1,000 streams opened at once) a message can wait in the client longer than that, and
JetStream delivers it again while the first delivery has not begun or has just begun. ``settle``
leaves such a second delivery to the first (running both would make two writers of one response),
and the first one's heartbeat goes out at once when its message is already older than a heartbeat.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from faststream.nats import NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from shared import deadletter, subjects
from shared.datakeys import KeyDestroyed
from shared.retries import Transient, is_transient

__all__ = [
    "REDELIVERY",
    "OnFailure",
    "Redelivery",
    "Transient",
    "is_transient",
    "settle",
    "update_durable",
]

log = logging.getLogger(__name__)

# Called with the reason once a message has failed for good, to end its response ``failed``.
OnFailure = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Redelivery:
    """At most ``max_deliver`` deliveries; the n-th redelivery waits ``first_delay_s * 2**(n-1)``,
    capped at ``max_delay_s``."""

    max_deliver: int = 6
    first_delay_s: float = 0.5
    max_delay_s: float = 15.0

    def delay_s(self, delivered: int) -> float:
        return min(self.first_delay_s * 2 ** max(delivered - 1, 0), self.max_delay_s)


REDELIVERY = Redelivery()


async def settle(
    msg: NatsMessage,
    work: Callable[[], Awaitable[None]],
    *,
    js: JetStreamContext,
    consumer: str,
    on_failure: OnFailure | None = None,
    policy: Redelivery = REDELIVERY,
    heartbeat_s: float | None = None,
) -> None:
    """Run ``work`` for ``msg`` and ack, nak or terminate it by the rules above. With ``heartbeat_s``,
    the message is kept in progress that often while it is handled, so the consumer's ack wait can be
    short: a redelivery then means the process died, and comes within seconds. A delivery of a
    message this process is still settling is left alone (see the module): the first one settles it."""
    key = (consumer, msg.raw_message.metadata.sequence.stream)
    if key in _settling:
        log.info("%s: %s came again while in hand here; left to its first delivery", consumer, _what(msg))
        return
    _settling.add(key)
    beats = _heartbeats(heartbeat_s) if heartbeat_s is not None else None
    try:
        if beats is not None:
            await beats.hold(msg)
        await _settle(msg, work, js=js, consumer=consumer, on_failure=on_failure, policy=policy)
    finally:
        _settling.discard(key)
        if beats is not None:
            beats.release(msg)


# The messages this process is settling, by consumer and stream sequence.
_settling: set[tuple[str, int]] = set()


class Heartbeats:
    """Tells JetStream every ``every_s`` seconds that each message held is still being handled: one
    task for all of them. A task a message cost some 3 KB for as long as it was held, and a worker
    holds a chat call for the whole of its run (bench/README.md, eighth pass)."""

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._held: dict[int, NatsMessage] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def hold(self, msg: NatsMessage) -> None:
        if _age_s(msg) > self._every_s:  # it waited in this process: its ack wait may be nearly out
            await _beat(msg)
        self._held[id(msg)] = msg
        ticker = self._ticker
        if ticker is None or ticker.done() or ticker.get_loop() is not asyncio.get_running_loop():
            self._ticker = asyncio.create_task(self._beat_all())

    def release(self, msg: NatsMessage) -> None:
        self._held.pop(id(msg), None)

    async def _beat_all(self) -> None:
        while self._held:
            await asyncio.sleep(self._every_s)
            for msg in list(self._held.values()):
                await _beat(msg)


def _heartbeats(every_s: float) -> Heartbeats:
    if (beats := _heartbeats_by_interval.get(every_s)) is None:
        beats = _heartbeats_by_interval[every_s] = Heartbeats(every_s)
    return beats


_heartbeats_by_interval: dict[float, Heartbeats] = {}


async def _beat(msg: NatsMessage) -> None:
    try:
        await msg.in_progress()
    except Exception as error:  # a missed heartbeat costs at worst a redelivery
        log.warning("heartbeat of %s failed: %r", _what(msg), error)


async def _settle(
    msg: NatsMessage,
    work: Callable[[], Awaitable[None]],
    *,
    js: JetStreamContext,
    consumer: str,
    on_failure: OnFailure | None,
    policy: Redelivery,
) -> None:
    try:
        await work()
    except KeyDestroyed:
        # The response was deleted (or expired): its content is erased by design, nothing is left to do.
        log.info("%s: %s belongs to an erased response; skipped", consumer, _what(msg))
        await msg.ack()
        return
    except Exception as error:
        delivered = msg.raw_message.metadata.num_delivered
        if is_transient(error) and delivered < policy.max_deliver:
            delay = policy.delay_s(delivered)
            log.warning(
                "%s: %s (delivery %d), retrying in %.1fs: %r", consumer, _what(msg), delivered, delay, error
            )
            await msg.nack(delay=delay)
            return
        reason = _reason(error, delivered, transient=is_transient(error))
        log.error("%s: %s failed for good: %s", consumer, _what(msg), reason)
        await _give_up(msg, js=js, consumer=consumer, reason=reason, on_failure=on_failure)
        return
    await msg.ack()


async def _give_up(
    msg: NatsMessage, *, js: JetStreamContext, consumer: str, reason: str, on_failure: OnFailure | None
) -> None:
    # Each step is best effort: the message is terminated whatever happens, so it never comes back.
    try:
        await deadletter.record(js, msg.raw_message, consumer=consumer, reason=reason)
    except Exception as error:
        log.error("%s: could not dead-letter %s: %r", consumer, _what(msg), error)
    if on_failure is not None:
        try:
            await on_failure(reason)
        except Exception as error:
            log.error("%s: could not end the response of %s failed: %r", consumer, _what(msg), error)
    await msg.reject()


def _reason(error: Exception, delivered: int, *, transient: bool) -> str:
    what = f"{type(error).__name__}: {error}"[:500]
    return f"gave up after {delivered} deliveries: {what}" if transient else what


def _age_s(msg: NatsMessage) -> float:
    """Since the message was stored: at least how long ago its latest delivery was for a first one,
    and always more than a heartbeat for a redelivered one."""
    return time.time() - msg.raw_message.metadata.timestamp.timestamp()


def _what(msg: NatsMessage) -> str:
    meta = msg.raw_message.metadata
    return f"{msg.raw_message.subject} (stream seq {meta.sequence.stream})"


# What a running durable may change in place (NATS keeps its position and pending messages).
_UPDATABLE = ("max_deliver", "ack_wait", "max_ack_pending", "backoff", "filter_subjects", "description")


async def update_durable(
    js: JetStreamContext, durable: str, config: ConsumerConfig, *, stream: str = subjects.STREAM
) -> None:
    """Give an existing durable the settings of ``config`` that it lacks; a missing one is left for
    the subscriber to create. Subscribing binds to an existing durable as it is (nats-py checks no
    drift), so without this a durable from an older data directory would keep no ``max_deliver``."""
    try:
        current = (await js.consumer_info(stream, durable)).config
    except NotFoundError:
        return
    changes = {
        field: wanted
        for field in _UPDATABLE
        if (wanted := getattr(config, field)) not in (None, []) and wanted != getattr(current, field)
    }
    if changes:
        log.info("updating durable %s: %s", durable, changes)
        await js.add_consumer(stream, current.evolve(**changes))

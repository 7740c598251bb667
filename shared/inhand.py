"""A durable consumer's messages in hand: each handled in a task of its own, no more at once than the
service's concurrency, and drained at shutdown.

FastStream runs a subscriber of ``max_workers`` through anyio: for every message a memory stream's
send and receive, a task group's task and a semaphore twice: 180 µs of CPU a message where this
takes 60 (``python -m bench.dispatch_cost``), and a response passes four such messages. Its handler's
context (exit stacks, a task group, FastStream's context scope: some 10 KB) would also be held for
as long as the message is: the worker holds a chat call while its backend streams, minutes for a
long answer. So the subscriber hands each message to ``take``, which returns once the message's
task has begun (or waits for a slot: the message is delivered but not begun, and the next ones
wait behind it in the client, as they would for FastStream's workers)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faststream.nats import NatsMessage

log = logging.getLogger(__name__)


class InHand:
    def __init__(
        self, handle: Callable[[NatsMessage], Awaitable[None]], *, limit: int, grace_s: float
    ) -> None:
        self._handle = handle
        self._slots = asyncio.Semaphore(limit)
        self._grace_s = grace_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._draining = False

    async def take(self, msg: NatsMessage) -> None:
        """Take a slot and begin the message. One that comes while this replica drains is left
        unsettled, as FastStream leaves what it had not begun at shutdown: JetStream delivers it again
        after its ack wait, to a replica that runs (a nak would bring it straight back here)."""
        await self._slots.acquire()
        if self._draining:
            self._slots.release()
            return
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and (error := task.exception()) is not None:
            # Handlers settle their own failures (``consumers.settle``): this is one that could not.
            log.error("settling a message failed: %r", error)

    async def drain(self) -> None:
        """Take no more messages and give those in hand up to ``grace_s`` to end: at shutdown, before
        the connection closes. Any still running then are left to another replica, as a dead
        replica's are."""
        self._draining = True
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._grace_s)

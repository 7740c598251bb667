"""Writes to one collection gathered into bulk writes: a group commit.

A write is queued and the queue is sent as one ``bulk_write`` (unordered, one round trip) once no
other command of its line is in flight and, on a line that lingers, once it has waited for company
(below); what arrives meanwhile waits and goes in the next. Each round trip carries the writes of
many responses, which costs the server and the store less per write than one command each
(bench/README.md, "The store's writes").

Every write of the projection is a guarded upsert that may be applied in any order and any number of
times (``shared.domain.projection``), so writes of one batch need no order among themselves. Each
caller learns its own write's outcome: applied, a duplicate key (``apply`` then retries it without
upsert, as ``repository.apply`` does; ``insert`` reports it), or the error it alone met. A transient
error of the whole command (unreachable, timed out) goes to every write it carried; any other (a
write BSON cannot hold fails the command before it is sent) has each write tried alone, so only its
own fails.

Writers share a ``Line``: the store's responses and usage writers share one.
- **One command at a time** between them. The embedded stand-in serves each connection on a thread
  of its own, and two commands at once cost it about twice the CPU of the same two in turn
  (`python -m bench.store_writes`). On a real MongoDB that costs the projection a round trip at
  most, as each command carries every write queued meanwhile.
- **Lingering together**: a line's ``linger_s`` is how long its writers wait for company before they
  send a batch smaller than its ``full_at``. A write that is ``urgent`` (an api waits for it: a
  deletion, a conversation's turn) or that fills a batch ends the wait for every writer of the line,
  so that an event's writes to both collections go at once and its handler is never held for the
  other collection. Every other read by response id finds what is not written yet in the log
  (``shared.readmodel.fresh``), and one by item id looks again after the linger
  (``shared.readmodel.chains``), so a little lag costs nobody a wait, while each command it saves
  costs the server and the store far more than the writes it carries: at one request at a time the
  store wrote every response alone (bench/README.md, "A lingering group commit"). The store fills a
  batch at its concurrency, so that its handlers, all waiting, never wait out the linger.
"""

import asyncio
import dataclasses

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, ExecutionTimeout, WriteError

from shared import mongo, retries
from shared.domain.projection import Write

# One command's writes at most. On the embedded stand-in a write in a bulk of 16-64 cost 20-25% less
# of its CPU than one alone, and one in a bulk of 256 no less (bench/README.md); and a batch's
# callers all wait for its last write.
MAX_BATCH = 64
# How long a caller waits for its write: its own command's timeout, plus the commands ahead of it on
# its line (its own writer's, and another writer's in between).
WAIT_S = 3 * mongo.TIMEOUT_MS / 1000
_DUPLICATE_KEY = 11000
_TIMED_OUT = 50  # MaxTimeMSExpired

_Queued = tuple[UpdateOne | InsertOne, "asyncio.Future[bool]"]


class Line:
    """Writers whose commands must not overlap, and who linger together; one per event loop."""

    def __init__(self, *, linger_s: float = 0.0, full_at: int = MAX_BATCH) -> None:
        self.linger_s = linger_s
        self.full_at = min(full_at, MAX_BATCH)
        self.lock = asyncio.Lock()
        self._company: asyncio.Future[None] | None = None  # resolved: stop lingering, send now
        self._timer: asyncio.TimerHandle | None = None

    async def linger(self) -> None:
        """Wait ``linger_s``, or less if a write comes that cannot wait or that fills a batch; with the
        line's other writers, if they are waiting already."""
        if self._company is None:
            loop = asyncio.get_running_loop()
            self._company = loop.create_future()
            # A timer rather than a timeout: no task and no cancellation on the store's every command.
            self._timer = loop.call_later(self.linger_s, self.hurry)
        # Shielded: one writer cancelled (shutdown) must not cancel the others' wait.
        await asyncio.shield(self._company)

    def hurry(self) -> None:
        """End the wait of every writer lingering on the line."""
        if self._company is not None:
            if self._timer is not None:
                self._timer.cancel()
            _resolve(self._company)
            self._company = None


class GroupWriter:
    """One collection's writes, gathered; one per collection and event loop. ``line``: shared with
    the writers whose commands must not overlap this one's, and who linger with it."""

    def __init__(self, collection: AsyncCollection, *, line: Line | None = None) -> None:
        self.collection = collection
        self._line = line or Line()
        self._urgent = False  # an urgent write is queued: the next batch goes without lingering
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None

    async def apply(self, write: Write, *, urgent: bool = False) -> None:
        """Apply ``write`` with the others queued now; raises what its own write met."""
        if write.insert is not None and await self.insert(write.insert, urgent=urgent):
            return
        # Bounded in this task (not wait_for's own): a task fewer on every write of the projection.
        async with asyncio.timeout(WAIT_S):
            applied = await self.submit(write, urgent=urgent)
        if not applied and write.upsert:
            # A document with this id exists but the guard did not match it, or it was inserted
            # concurrently: only the latter can still apply, so once more without inserting.
            async with asyncio.timeout(WAIT_S):
                await self.submit(dataclasses.replace(write, upsert=False), urgent=urgent)

    async def insert(self, doc: dict, *, urgent: bool = False) -> bool:
        """Insert ``doc`` with the writes queued now; False if a document with its id exists."""
        async with asyncio.timeout(WAIT_S):
            return await self._queued(InsertOne(doc), urgent)

    def submit(self, write: Write, *, urgent: bool = False) -> "asyncio.Future[bool]":
        """Queue ``write``; its future is True once applied, False on a duplicate key. ``urgent``: sent
        without lingering, with whatever is queued."""
        return self._queued(UpdateOne(write.filter, write.update, upsert=write.upsert), urgent)

    def _queued(self, op: UpdateOne | InsertOne, urgent: bool) -> "asyncio.Future[bool]":
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        self._urgent = self._urgent or urgent
        if urgent or len(self._queue) >= self._line.full_at:
            self._line.hurry()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        batch: list[_Queued] = []
        try:
            while self._queue:
                line = self._line
                if line.linger_s and not self._urgent and len(self._queue) < line.full_at:
                    await line.linger()
                # The batch is taken once the line is free: what came while another writer's command
                # was out goes in this one.
                async with line.lock:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                    self._urgent = self._urgent and bool(self._queue)
                    await self._write(batch)
        except BaseException as error:  # cancelled (shutdown): nobody may wait for good
            for _, future in batch + self._queue:
                if not future.done():
                    future.set_exception(error if isinstance(error, Exception) else ConnectionError(error))
            self._queue, self._urgent = [], False
            raise

    async def _write(self, batch: list[_Queued]) -> None:
        errors: dict[int, dict] = {}
        try:
            await self.collection.bulk_write([op for op, _ in batch], ordered=False)
        except BulkWriteError as error:
            if concern := error.details.get("writeConcernErrors"):
                _fail(batch, _error_of(concern[-1]))
                return
            errors = {e["index"]: e for e in error.details.get("writeErrors", [])}
        except Exception as error:  # the command as a whole: unreachable, timed out, refused
            if len(batch) > 1 and not retries.is_transient(error):
                # One write BSON cannot hold (say) fails the whole command before it is sent: each
                # alone, so that only that write fails and the others apply.
                for queued in batch:
                    await self._write([queued])
            else:
                _fail(batch, error)
            return
        for index, (_, future) in enumerate(batch):
            if future.done():  # its caller stopped waiting
                continue
            if (found := errors.get(index)) is None:
                future.set_result(True)
            elif found.get("code") == _DUPLICATE_KEY:
                future.set_result(False)
            else:
                future.set_exception(_error_of(found))


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


def _fail(batch: list[_Queued], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


def _error_of(found: dict) -> Exception:
    """One write's error as ``update_one`` would have raised it (a timeout stays transient)."""
    message, code = str(found.get("errmsg")), found.get("code")
    return ExecutionTimeout(message, code, found) if code == _TIMED_OUT else WriteError(message, code, found)

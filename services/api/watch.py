"""Following one response. Live: the api subscribes (core NATS) to the response's events *before* it
publishes the request, so no event can slip past; and, where it must answer only once the store has
projected something (a conversation's turn, a deletion), to the store's projected signal. Resumed: an
ordered JetStream consumer replays the response's logged events and then follows the new ones, on any
replica.

Two feeds (``Feed``). A stream follows every event as the worker publishes it, the earliest a token
can be shown; but NATS delivers a published message even when JetStream did not store it (a stream
leader that died first), so its terminal event is checked against the log before a client is told
the outcome (``ResponseWatch.logged_terminal``). An answer that waits for the end follows the log's
own copies of the state events instead (JetStream republishes each once stored), so its end needs no
check. A copy can be lost (a leader dying between storing and republishing it): a quiet feed asks
the log whether it moved on."""

import asyncio
import contextlib
import enum
import json
from collections.abc import AsyncIterator, Awaitable, Collection
from typing import Self, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from shared import eventlog, retries, subjects
from shared.errors import GatewayError
from shared.events import ResponseStreamed, client_events

# A stalled client stops the api reading; NATS then drops what exceeds the buffer (Settings'
# ``stream_buffer_msgs``) rather than the api buffering without bound, and the stream goes on from
# the log (see `ResponseWatch.events`).
DEFAULT_BUFFER_MSGS = 20_000
_PENDING_BYTES = 32 * 1024 * 1024
# How long a quiet live feed waits before asking the log whether it lost something.
_IDLE_CHECK_S = 1.0
_MAX_IDLE_CHECK_S = 8.0
_LOG_UNAVAILABLE = "The event log is unavailable; retrieve the response later, or retry the request."
# The first pause between lookups of a terminal event the log does not hold yet; it doubles, up to
# the bound of one lookup (a stream without a leader does not answer).
_LOG_POLL_S = 0.05
T = TypeVar("T")


class Feed(enum.Enum):
    LIVE = "live"  # every event as published (``subjects.response_events``): what a stream shows
    STORED = "stored"  # state events once the log holds them (``subjects.stored_states``)


class NotStored(GatewayError):
    """The store gave up on the response (its event was dead-lettered): no 200 for what no GET finds."""


class ResponseTimedOut(Exception):
    """The response did not finish within the request deadline."""


class ResponseWatch:
    def __init__(
        self,
        js: JetStreamContext,
        response_id: str,
        events: Subscription,
        projected: Subscription | None,
        *,
        awaits_request: bool = False,
    ) -> None:
        self._js = js
        self._response_id = response_id
        self._events = events
        self._projected = projected
        # A new stored response is readable whole (input items too) only once its request is projected
        # as well as its state: the store folds them concurrently, in either order.
        self._request_pending = awaits_request

    @classmethod
    async def open(
        cls,
        nc: Client,
        js: JetStreamContext,
        response_id: str,
        *,
        feed: Feed = Feed.LIVE,
        buffer_msgs: int = DEFAULT_BUFFER_MSGS,
        follows_projection: bool = True,
        awaits_request: bool = False,
    ) -> Self:
        """``follows_projection`` False: ``projected`` will not be asked (one subscription fewer).
        ``awaits_request``: the response is new, so ``projected`` waits for its request to be
        projected too."""
        live = feed is Feed.LIVE
        events = await nc.subscribe(
            subjects.response_events(response_id) if live else subjects.stored_states(response_id),
            pending_msgs_limit=buffer_msgs,
            pending_bytes_limit=_PENDING_BYTES,
        )
        projected = await nc.subscribe(subjects.projected(response_id)) if follows_projection else None
        return cls(js, response_id, events, projected, awaits_request=awaits_request)

    async def close(self) -> None:
        for sub in (self._events, self._projected):
            if sub is None:
                continue
            # The connection may already be gone; then there is nothing left to release.
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def events(self, *, deadline_s: float) -> AsyncIterator[list[ResponseStreamed]]:
        """The client-facing events in order, up to and including the terminal one, as the messages
        carried them (the deltas a worker logged together come together). Should the live feed lose
        events (NATS drops what a slow client leaves unread past the buffer), the rest comes from the
        log instead: noticed by a skipped number, or by a quiet feed while the log moved on."""
        expected = 0
        async for batch in _until_terminal(self._js, self._events, deadline_s, idle_s=_IDLE_CHECK_S):
            lost = await self._log_is_past(expected) if batch is None else batch[0].sequence_number > expected
            if lost:
                async for replayed in replay(
                    self._js, self._response_id, after=expected - 1, deadline_s=deadline_s
                ):
                    yield replayed
                return
            if batch is not None:
                expected = batch[-1].sequence_number + 1
                yield batch

    async def _log_is_past(self, expected: int) -> bool:
        last = await self._last_logged()
        # The event that ended the silence can reach the log while the lookup runs, and its live copy
        # the queue just before the lookup's answer: then nothing was lost. Turning to the log for it
        # would cost a JetStream consumer per quiet stream (a model pausing between tokens).
        return last is not None and last.sequence_number >= expected and not self._events.pending_msgs

    async def _last_logged(self) -> ResponseStreamed | None:
        return await _unless_unknown(eventlog.last_response_event(self._js, self._response_id))

    async def terminal(self, *, deadline_s: float) -> ResponseStreamed:
        """Only the end; the numbers before it may have gaps (a non-stream run logs no deltas). On the
        stored feed, as its callers open it, the end is as logged; a quiet feed asks the log, whose end
        may have come with its copy lost."""
        # Closed here rather than left to the collector, whose finalizer would wake the loop from
        # outside and make a task to close it: a write, a read and a task on every answer.
        feed = _until_terminal(self._js, self._events, deadline_s, idle_s=_IDLE_CHECK_S)
        async with contextlib.aclosing(feed) as batches:
            async for batch in batches:
                event = await self._last_logged() if batch is None else batch[-1]
                if event is not None and event.is_terminal:
                    return event
        raise ResponseTimedOut

    async def logged_terminal(self, seen: ResponseStreamed, *, wait_s: float) -> ResponseStreamed | None:
        """The terminal event the log holds for this response, checked against ``seen`` (the one the
        live feed delivered: NATS delivers a message to subscribers even when JetStream did not store
        it, e.g. when the stream's leader died), waiting up to ``wait_s`` for it to be stored; None
        if it was not. One lookup when the log agrees, which it nearly always does."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_s
        delay = _LOG_POLL_S
        subject = subjects.response_event(seen.response_id, seen.type)
        while True:
            raw = await _unless_unknown(eventlog.last_message(self._js, subject))
            if raw is not None and (raw.headers or {}).get("Nats-Msg-Id") == seen.event_id:
                return seen
            if raw is not None:
                logged = await eventlog.decode(self._js, raw)
                if isinstance(logged, ResponseStreamed) and logged.is_terminal:
                    return logged
            if loop.time() + delay > until:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, eventlog.LOOKUP_TIMEOUT_S)

    async def projected(self, *, statuses: Collection[str], timeout_s: float) -> bool:
        """Wait until the store signals it holds one of ``statuses`` (and the request, for a new
        response); False if it did not in time."""
        if self._projected is None:
            raise RuntimeError("opened with follows_projection=False")
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout_s
        reached = False
        while not reached or self._request_pending:
            try:
                msg = await self._projected.next_msg(timeout=max(until - loop.time(), 0.001))
            except TimeoutError:
                return False
            status = json.loads(msg.data).get("status")
            if status == subjects.UNSTORED:
                raise NotStored(
                    f"Response '{self._response_id}' could not be stored; please retry the request."
                )
            if status == subjects.REQUEST_PROJECTED:
                self._request_pending = False
            reached = reached or status in statuses
        return True


async def _unless_unknown(lookup: Awaitable[T]) -> T | None:
    """``lookup``'s answer, or None where the log cannot tell now (a leader election): the watch asks
    again when it next looks."""
    try:
        return await lookup
    except Exception as error:
        if not retries.is_transient(error):
            raise
        return None


async def replay(
    js: JetStreamContext, response_id: str, *, after: int, deadline_s: float
) -> AsyncIterator[list[ResponseStreamed]]:
    """The logged events of one response after sequence number ``after``, then the live ones, as the
    messages carried them (``ResponseWatch.events``). The reader is made through a leader election
    like an append (a live feed that lost events turns to the log just when a node went away), then
    ``ServiceUnavailable``: an ``error`` event, never a stream cut off."""
    sub = await retries.retrying(
        lambda _: js.subscribe(
            subjects.response_events(response_id),
            stream=subjects.STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            pending_msgs_limit=DEFAULT_BUFFER_MSGS,
            pending_bytes_limit=_PENDING_BYTES,
        ),
        what=f"reading {response_id} from the log",
        unavailable=_LOG_UNAVAILABLE,
    )
    try:
        async for batch in _until_terminal(js, sub, deadline_s):
            if batch is not None and (unseen := [e for e in batch if e.sequence_number > after]):
                yield unseen
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _next_msg(sub: Subscription, *, timeout_s: float) -> Msg:
    """``sub.next_msg``, without what nats-py spends on each call: two tasks and a uuid (an
    ``os.urandom`` call) a message, for every event of every stream the api serves, and 4 KB of an
    open stream's memory while it waits (bench/README.md, eighth pass). It takes from the
    subscription's queue and keeps its count of pending bytes (which bounds a stalled client's
    buffer) as ``next_msg`` does, by their private names: the same since nats-py 2.0. Raises
    ``TimeoutError``."""
    async with asyncio.timeout(timeout_s):
        msg: Msg = await sub._pending_queue.get()
    sub._pending_size -= len(msg.data)
    sub._pending_queue.task_done()
    return msg


async def _until_terminal(
    js: JetStreamContext, sub: Subscription, deadline_s: float, *, idle_s: float | None = None
) -> AsyncIterator[list[ResponseStreamed] | None]:
    """The subscription's client-facing events to the terminal one, those of one message together;
    None after a silence, when ``idle_s`` is given: a silence of ``idle_s``, or of twice the last gap
    between messages when that is longer, and then of twice as long each time, up to
    ``_MAX_IDLE_CHECK_S``. A model that thinks for minutes, or spaces its tokens seconds apart, must
    not have every waiting request ask the log at each pause."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline_s
    quiet_s = idle_s
    last_at = loop.time()
    while True:
        left = until - loop.time()
        if left <= 0:
            raise ResponseTimedOut
        try:
            msg = await _next_msg(sub, timeout_s=min(left, quiet_s or left))
        except TimeoutError:
            if quiet_s is not None and loop.time() < until:
                quiet_s = min(quiet_s * 2, _MAX_IDLE_CHECK_S)
                yield None
            continue
        if idle_s is not None:
            now = loop.time()
            quiet_s, last_at = min(max(idle_s, 2 * (now - last_at)), _MAX_IDLE_CHECK_S), now
        if not subjects.carries_response_event(msg.subject):
            continue  # the request, chat-call and cancel events share the wildcard: not worth parsing
        # A large one is a claim check; deltas a worker logged together come as one message.
        batch = client_events(await eventlog.decode(js, msg))
        ends = [n for n, event in enumerate(batch) if event.is_terminal]
        if ends:
            yield batch[: ends[0] + 1]
            return
        if batch:
            yield batch

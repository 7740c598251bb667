"""Following one response. Live: the api subscribes (core NATS) to the response's subjects *before*
it publishes the request, so no event can slip past, and to the store's projected signal, which is
what makes a response visible to every replica before the api answers. Resumed: an ordered JetStream
consumer replays the response's logged events and then follows the new ones, on any replica."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Collection
from typing import Self

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from shared import eventlog, subjects
from shared.events import ResponseStreamed

# A stalled client stops the api reading; NATS then drops what exceeds the buffer (Settings'
# ``stream_buffer_msgs``) rather than the api buffering without bound, and the stream goes on from
# the log (see `ResponseWatch.events`).
DEFAULT_BUFFER_MSGS = 20_000
_PENDING_BYTES = 32 * 1024 * 1024
# How long a quiet live feed waits before asking the log whether it lost something.
_IDLE_CHECK_S = 1.0


class ResponseTimedOut(Exception):
    """The response did not finish within the request deadline."""


class ResponseWatch:
    def __init__(
        self, js: JetStreamContext, response_id: str, events: Subscription, projected: Subscription
    ) -> None:
        self._js = js
        self._response_id = response_id
        self._events = events
        self._projected = projected

    @classmethod
    async def open(
        cls, nc: Client, js: JetStreamContext, response_id: str, *, buffer_msgs: int = DEFAULT_BUFFER_MSGS
    ) -> Self:
        events = await nc.subscribe(
            subjects.response_events(response_id),
            pending_msgs_limit=buffer_msgs,
            pending_bytes_limit=_PENDING_BYTES,
        )
        projected = await nc.subscribe(subjects.projected(response_id))
        return cls(js, response_id, events, projected)

    async def close(self) -> None:
        for sub in (self._events, self._projected):
            # The connection may already be gone; then there is nothing left to release.
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def events(self, *, deadline_s: float) -> AsyncIterator[ResponseStreamed]:
        """The client-facing events in order, up to and including the terminal one. Should the live
        feed lose events (NATS drops what a slow client leaves unread past the buffer), the rest comes
        from the log instead: noticed by a skipped number, or by a quiet feed while the log moved on."""
        expected = 0
        async for event in _until_terminal(self._events, deadline_s, idle_s=_IDLE_CHECK_S):
            lost = await self._log_is_past(expected) if event is None else event.sequence_number > expected
            if lost:
                async for replayed in replay(
                    self._js, self._response_id, after=expected - 1, deadline_s=deadline_s
                ):
                    yield replayed
                return
            if event is not None:
                expected = event.sequence_number + 1
                yield event

    async def _log_is_past(self, expected: int) -> bool:
        last = await eventlog.last_response_event(self._js, self._response_id)
        return last is not None and last.sequence_number >= expected

    async def terminal(self, *, deadline_s: float) -> ResponseStreamed:
        """Only the end; the numbers before it may have gaps (a non-stream run logs no deltas)."""
        async for event in _until_terminal(self._events, deadline_s):
            if event is not None and event.is_terminal:
                return event
        raise ResponseTimedOut

    async def projected(self, *, statuses: Collection[str], timeout_s: float) -> bool:
        """Wait until the store signals it holds one of ``statuses``; False if it did not in time."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout_s
        while True:
            try:
                msg = await self._projected.next_msg(timeout=max(until - loop.time(), 0.001))
            except TimeoutError:
                return False
            if json.loads(msg.data).get("status") in statuses:
                return True


async def replay(
    js: JetStreamContext, response_id: str, *, after: int, deadline_s: float
) -> AsyncIterator[ResponseStreamed]:
    """The logged events of one response after sequence number ``after``, then the live ones."""
    sub = await js.subscribe(
        subjects.response_events(response_id),
        stream=subjects.STREAM,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        pending_msgs_limit=DEFAULT_BUFFER_MSGS,
        pending_bytes_limit=_PENDING_BYTES,
    )
    try:
        async for event in _until_terminal(sub, deadline_s):
            if event is not None and event.sequence_number > after:
                yield event
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _until_terminal(
    sub: Subscription, deadline_s: float, *, idle_s: float | None = None
) -> AsyncIterator[ResponseStreamed | None]:
    """The subscription's client-facing events to the terminal one; None after each ``idle_s`` of
    silence, when given."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline_s
    while True:
        left = until - loop.time()
        if left <= 0:
            raise ResponseTimedOut
        try:
            msg = await sub.next_msg(timeout=min(left, idle_s or left))
        except TimeoutError:
            if idle_s is not None and loop.time() < until:
                yield None
            continue
        if not subjects.carries_response_event(msg.subject):
            continue  # the request, chat-call and cancel events share the wildcard: not worth parsing
        event = ResponseStreamed.model_validate_json(msg.data)
        yield event
        if event.is_terminal:
            return

"""Following one response live. The api subscribes (core NATS) to the response's subjects *before*
it publishes the request, so no event can slip past, and to the store's projected signal, which is
what makes a finished response visible to every replica before the api answers."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Self

from nats.aio.client import Client
from nats.aio.subscription import Subscription

from shared import subjects
from shared.events import ResponseStreamed, parse_event


class ResponseTimedOut(Exception):
    """The response did not finish within the request deadline."""


class ResponseWatch:
    def __init__(self, events: Subscription, projected: Subscription) -> None:
        self._events = events
        self._projected = projected

    @classmethod
    async def open(cls, nc: Client, response_id: str) -> Self:
        events = await nc.subscribe(subjects.response_events(response_id))
        projected = await nc.subscribe(subjects.projected(response_id))
        return cls(events, projected)

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
        """The client-facing events in order, up to and including the terminal one."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline_s
        while True:
            try:
                msg = await self._events.next_msg(timeout=max(until - loop.time(), 0.001))
            except TimeoutError as exc:
                raise ResponseTimedOut from exc
            event = parse_event(msg.data)
            if not isinstance(event, ResponseStreamed):
                continue  # the request and chat-call events share the wildcard
            yield event
            if event.is_terminal:
                return

    async def terminal(self, *, deadline_s: float) -> ResponseStreamed:
        async for event in self.events(deadline_s=deadline_s):
            if event.is_terminal:
                return event
        raise ResponseTimedOut

    async def projected(self, *, timeout_s: float) -> bool:
        """Wait for the store's signal; False if it did not come in time."""
        try:
            await self._projected.next_msg(timeout=timeout_s)
        except TimeoutError:
            return False
        return True

"""Waiting on the live store in tests, bounded by a harness limit rather than asserting any timing."""

import asyncio

from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from services.store import handlers
from shared import subjects

# How long a message may take to come back; a run that needs it has already failed.
WAIT_S = 30.0


async def store_caught_up(js: JetStreamContext) -> ConsumerInfo:
    """The store's consumer once every logged event was delivered and acked (a message nacked in a
    loop never gets there)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            info = await js.consumer_info(subjects.STREAM, handlers.DURABLE)
            if not (info.num_pending or info.num_ack_pending):
                return info
            await asyncio.sleep(0.05)

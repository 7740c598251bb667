"""A message whose deliveries all time out, for the dead-letter tests of the contract and integration
suites: a durable of the test's own reads it and never acknowledges it (a handler killed on every
delivery) until JetStream gives up, while ``deadletter.watch_exhausted`` waits for the advisory."""

import asyncio
from dataclasses import dataclass

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, PubAck

from shared import deadletter, subjects

MAX_DELIVER = 2


@dataclass(frozen=True)
class Exhausted:
    sent: PubAck
    letter: deadletter.Letter
    # What the watcher handed on: (the message's body, the letter's reason), once each.
    handed_on: list[tuple[bytes, str]]


async def exhaust_deliveries(
    nats_url: str,
    js: JetStreamContext,
    *,
    consumer: str,
    subject: str,
    data: bytes,
    headers: dict[str, str] | None = None,
    wait_s: float,
) -> Exhausted:
    """Log ``data`` on ``subject`` (of the log's stream, read by no one else), let the new durable
    ``consumer`` take it MAX_DELIVER times without an ack, and return once the watcher has lettered it
    and handed it on. ``wait_s`` bounds each wait for the server: a run that needs it has already failed."""
    await js.add_consumer(
        subjects.STREAM,
        ConsumerConfig(
            durable_name=consumer,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=1.0,
            max_deliver=MAX_DELIVER,
        ),
    )
    handed_on: list[tuple[bytes, str]] = []

    async def on_exhausted(raw, reason: str) -> None:
        handed_on.append((raw.data, reason))

    nc = await nats.connect(nats_url)
    watcher = await deadletter.watch_exhausted(nc, js, consumer=consumer, on_exhausted=on_exhausted)
    try:
        sent = await js.publish(subject, data, stream=subjects.STREAM, headers=headers)
        pull = await js.pull_subscribe_bind(consumer, stream=subjects.STREAM)
        for _ in range(MAX_DELIVER):
            (msg,) = await pull.fetch(1, timeout=wait_s)
            assert msg.data == data
        # A pull consumer notices its exhausted deliveries when asked for more, as a service's loop does.
        with pytest.raises(nats.errors.TimeoutError):
            await pull.fetch(1, timeout=3)
        async with asyncio.timeout(wait_s):
            while not (letters := [letter async for letter in deadletter.letters(js, consumer=consumer)]):
                await asyncio.sleep(0.1)
            while not handed_on:
                await asyncio.sleep(0.1)
    finally:
        await watcher.unsubscribe()
        await nc.close()
    (letter,) = letters
    return Exhausted(sent=sent, letter=letter, handed_on=handed_on)

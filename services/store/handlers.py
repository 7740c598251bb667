"""The store's subscription: requested, state and deleted events in, projection (and usage) writes
out, then the signal the api waits on for read-your-writes.

Each event is settled by ``shared.consumers.settle``. MongoDB or NATS not answering (unreachable, a
timeout) is transient: the event is redelivered with a growing delay, for several minutes (see
``REDELIVERY``), since the projection must not lose an event to a MongoDB restart. Anything else is
permanent: a message that is no event, or data BSON cannot hold; it fails the same way every time,
so it is dead-lettered at once, logged once, and the api is told (``projection.UNSTORED``) rather than
left waiting for a projection that will never come.
"""

import json
import logging

from faststream.nats import NatsBroker, NatsMessage
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RawStreamMsg
from pymongo.asynchronous.collection import AsyncCollection

from services.store import conversations as conversation_turns
from services.store import durable
from services.store.pairing import Pairing
from shared import bus, consumers, deadletter, eventlog, subjects
from shared.datakeys import KeyDestroyed
from shared.domain import conversations, projection
from shared.inhand import InHand
from shared.readmodel import bulk, repository

log = logging.getLogger(__name__)

DURABLE = durable.DURABLE
# 20 deliveries, 0.5 s to 30 s apart: a MongoDB outage of about 8 minutes (7 of backoff, plus each
# attempt's 5 s timeout) is ridden out; a longer one dead-letters the events it held up, which a
# redrive or a rebuild (services/store/rebuild.py) projects later.
REDELIVERY = consumers.Redelivery(max_deliver=20, first_delay_s=0.5, max_delay_s=30.0)


def consumer_config(concurrency: int) -> ConsumerConfig:
    return durable.config(max_deliver=REDELIVERY.max_deliver, max_ack_pending=concurrency * 4)


async def register(
    broker: NatsBroker,
    *,
    js: JetStreamContext,
    collection: AsyncCollection,
    ttl_s: int,
    concurrency: int,
    linger_s: float = 0.0,
    usage_collection: AsyncCollection | None = None,
    conversations_collection: AsyncCollection | None = None,
) -> InHand:
    """Subscribe the store; call once the broker is connected and before it starts (the durable is
    made or brought up to date first). ``linger_s``: how long small batches of writes wait for more
    (``bulk.Line``). ``usage_collection`` None leaves usage unprojected, and
    ``conversations_collection`` None conversations. The events in hand are returned, for their
    ``drain`` at shutdown."""
    config = consumer_config(concurrency)
    await durable.ensure(js, config)
    nc = broker.connection
    # A batch is full at the handlers' count: when all of them wait for their writes, none comes.
    line = bulk.Line(linger_s=linger_s, full_at=concurrency)
    projector = repository.Projector(collection, usage_collection=usage_collection, ttl_s=ttl_s, line=line)
    pairing = Pairing(projector, capacity=concurrency)

    async def project_event(msg: NatsMessage) -> None:
        try:
            event = await eventlog.decode(js, msg)
        except KeyDestroyed:
            return  # its response was deleted (or expired) and its content erased: nothing to show
        if conversations_collection is not None:
            # While the event's data key exists (an unstored response's turn may need its request), and
            # before the response's own write, so that its signal also means its turn is appended.
            await conversation_turns.project(event, js=js, collection=conversations_collection)
        erases = projection.erases(event) or conversations.erases(event)
        if erases and (keys := eventlog.data_keys(js)) is not None:
            # Before the deletion is signalled (and the api answers it): once DELETE returns, the
            # content is unreadable everywhere. The event itself is already open, so it still folds.
            await keys.destroy(event.tenant, event.response_id)
        await pairing.fold(event)
        signal = projection.projected_signal(event) or conversations.projected_signal(event)
        if signal is not None:
            await _signal(nc, event.response_id, signal)

    async def on_event(msg: NatsMessage) -> None:
        async def unstored(reason: str) -> None:
            await _tell_unstored(nc, msg.raw_message.subject)

        await consumers.settle(
            msg, lambda: project_event(msg), js=js, consumer=DURABLE, on_failure=unstored, policy=REDELIVERY
        )

    # Held requests take handlers of their own, so the other events keep `concurrency` of them.
    slots = concurrency + pairing.capacity
    in_hand = bus.subscribe(broker, DURABLE, {"event": on_event}, concurrency=slots, durable=config)

    async def exhausted(raw: RawStreamMsg, reason: str) -> None:
        await _tell_unstored(nc, raw.subject or "")

    await deadletter.watch_exhausted(nc, js, consumer=DURABLE, on_exhausted=exhausted)
    return in_hand


async def _tell_unstored(nc: Client, subject: str) -> None:
    """An api waiting on this response's projection learns at once that it will not come."""
    if (response_id := response_id_of(subject)) is not None:
        await _signal(nc, response_id, projection.UNSTORED)


async def _signal(nc: Client, response_id: str, signal: dict) -> None:
    await nc.publish(subjects.projected(response_id), json.dumps(signal).encode())


def response_id_of(subject: str) -> str | None:
    """The response (or conversation) a subject of the log belongs to (``resp.<id>.<kind>``,
    ``conv.<id>.<kind>``), or None."""
    parts = subject.split(".")
    return parts[1] if len(parts) == 3 and parts[0] in ("resp", "conv") else None

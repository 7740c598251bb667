"""The store's subscription: requested, state and deleted events in, projection (and usage) writes
out, then the signal the api waits on for read-your-writes."""

import logging

from bson.errors import InvalidDocument
from faststream import AckPolicy
from faststream.exceptions import NackMessage, RejectMessage
from faststream.nats import NatsBroker, NatsMessage, PullSub
from nats.js.api import ConsumerConfig
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from services.store import project, repository, usage
from shared import subjects
from shared.bus import LOG
from shared.events import Event, parse_event

log = logging.getLogger(__name__)

DURABLE = "store"
FILTER_SUBJECTS = [subjects.ALL_REQUESTED, subjects.ALL_STATE, subjects.ALL_DELETED]
# A MongoDB outage is retried after this pause rather than in a hot loop.
RETRY_DELAY_S = 2.0


def register(
    broker: NatsBroker,
    *,
    collection: AsyncCollection,
    ttl_s: int,
    concurrency: int,
    usage_collection: AsyncCollection | None = None,
) -> None:
    """``usage_collection`` None leaves usage unprojected."""

    @broker.subscriber(
        stream=LOG,
        durable=DURABLE,
        # One durable for the three subjects, shared by every replica (NATS >= 2.10).
        config=ConsumerConfig(filter_subjects=FILTER_SUBJECTS, max_ack_pending=concurrency * 4),
        pull_sub=PullSub(batch_size=32, timeout=5.0),
        max_workers=concurrency,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_event(msg: NatsMessage) -> None:
        event, write, usage_write = _decided(msg, ttl_s=ttl_s)
        try:
            if write is not None:
                await repository.apply(collection, write)
            if usage_write is not None and usage_collection is not None:
                await repository.apply(usage_collection, usage_write)
        except (InvalidDocument, OverflowError) as exc:
            # Data BSON cannot hold (an integer past 64 bits in a vendor field): no retry will help.
            log.error("dropping %s: not storable: %r", event.event_id, exc)
            raise RejectMessage from exc
        except PyMongoError as exc:
            log.warning("projecting %s failed, will retry: %s", event.event_id, exc)
            raise NackMessage(delay=RETRY_DELAY_S) from exc
        if (signal := project.projected_signal(event)) is not None:
            await broker.publish(signal, subjects.projected(event.response_id))


def _decided(msg: NatsMessage, *, ttl_s: int) -> tuple[Event, project.Write | None, project.Write | None]:
    """Parse and project, or drop the message: a pure step that failed once fails on every
    redelivery, so retrying it would only stall the consumer."""
    try:
        event = parse_event(msg.body)
        return event, project.write_for(event, ttl_s=ttl_s), usage.write_for(event)
    except Exception as exc:
        log.error("dropping message %s of the log: %r", msg.raw_message.metadata.sequence.stream, exc)
        raise RejectMessage from exc

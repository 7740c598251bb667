"""The store's durable on a JetStream server of this module's own: an older version's pull durable is
replaced by the push one, which goes on from the old one's acknowledged floor."""

from collections.abc import Awaitable, Callable

import nats
from faststream.nats import NatsBroker
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo.asynchronous.collection import AsyncCollection

from services.store import durable, handlers
from shared import eventlog, subjects

from .samples import lifecycle
from .waiting import WAIT_S, store_caught_up


async def test_an_old_pull_durable_is_replaced_from_its_ack_floor(
    nats_url: str,
    start_store: Callable[[AsyncCollection], Awaitable[NatsBroker]],
    collection: AsyncCollection,
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await eventlog.ensure_stream(js)
        old = ConsumerConfig(
            durable_name=durable.DURABLE,
            filter_subjects=durable.FILTER_SUBJECTS,
            ack_policy=AckPolicy.EXPLICIT,
        )
        pull = await js.pull_subscribe("", durable=durable.DURABLE, stream=subjects.STREAM, config=old)
        for event in lifecycle("resp_before"):
            await eventlog.append(js, event)
        # The store's share of a life: the request, created, in_progress and completed.
        for msg in await pull.fetch(4, timeout=WAIT_S):
            await msg.ack()
        for event in lifecycle("resp_after"):
            await eventlog.append(js, event)

        await start_store(collection)

        consumer = await store_caught_up(js)
        assert consumer.config.deliver_subject == durable.DELIVER_SUBJECT
        assert consumer.config.max_deliver == handlers.REDELIVERY.max_deliver
        # What the old durable had acknowledged is not projected again; everything after it is.
        assert await collection.find_one({"_id": "resp_before"}) is None
        assert (await collection.find_one({"_id": "resp_after"}))["status"] == "completed"

        await durable.ensure(js, handlers.consumer_config(1).evolve(max_deliver=3))
        updated = await js.consumer_info(subjects.STREAM, durable.DURABLE)
        assert (updated.config.max_deliver, updated.config.deliver_subject) == (3, durable.DELIVER_SUBJECT)
    finally:
        await nc.close()

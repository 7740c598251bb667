"""Composition root of the store: settings, the projection's collection, the broker, the sweeper."""

import asyncio
import contextlib

from faststream import FastStream

from services.store import handlers
from services.store.sweeper import Sweeper
from shared import bus, logs, mongo
from shared.config import Settings, master_keys
from shared.readmodel import conversations, repository, usage


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("store", settings.log_level)
    master = master_keys()  # before any connection: without it the service must not start
    # Every write of the store is idempotent and redelivered on failure (see services/store/mongo.py).
    client = mongo.client(settings.mongo_uri, retry_writes=False)
    try:
        db = client[settings.mongo_db]
        collection = repository.responses(db)
        await repository.ensure_indexes(collection)
        usage_collection = db[usage.COLLECTION]
        await usage.ensure_indexes(usage_collection)
        conversations_collection = conversations.collection_of(db)
        await conversations.ensure_indexes(conversations_collection)
        broker = bus.new_broker(settings, "store")
        js = await bus.connect(broker, settings=settings, master=master)
        in_hand = await handlers.register(
            broker,
            js=js,
            collection=collection,
            ttl_s=settings.response_ttl_s,
            usage_collection=usage_collection,
            conversations_collection=conversations_collection,
            concurrency=settings.store_concurrency,
            linger_s=settings.store_linger_s,
        )
        sweeper = Sweeper(
            js,
            collection,
            usage_collection=usage_collection,
            ttl_s=settings.response_ttl_s,
            deadline_s=settings.request_deadline_s,
            grace_s=settings.sweep_grace_s,
        )
        sweeping = asyncio.create_task(sweeper.run(settings.sweep_interval_s))
        try:
            await FastStream(broker, on_shutdown=[in_hand.drain]).run()
        finally:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
    finally:
        await client.close()

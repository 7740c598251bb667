"""Composition root of the store: settings, the projection's collection, the broker."""

import os

from faststream import FastStream
from pymongo import AsyncMongoClient

from services.store import handlers, repository, usage
from shared import bus, logs
from shared.config import Settings


async def main() -> None:
    logs.configure("store")
    settings = Settings.from_env()
    mongo = AsyncMongoClient(settings.mongo_uri)
    try:
        collection = repository.responses(mongo[settings.mongo_db])
        await repository.ensure_indexes(collection)
        usage_collection = mongo[settings.mongo_db][usage.COLLECTION]
        await usage.ensure_indexes(usage_collection)
        broker = bus.new_broker(settings.nats_url, "store")
        await bus.connect(broker)
        handlers.register(
            broker,
            collection=collection,
            ttl_s=settings.response_ttl_s,
            usage_collection=usage_collection,
            concurrency=int(os.environ.get("STORE_CONCURRENCY", "64")),
        )
        await FastStream(broker).run()
    finally:
        await mongo.close()

"""Composition root of the translator: settings, the projection it reads chains from, the broker."""

import os

from faststream import FastStream
from pymongo import AsyncMongoClient

from services.translator import handlers
from shared import bus, logs
from shared.config import Settings


async def main() -> None:
    logs.configure("translator")
    settings = Settings.from_env()
    mongo = AsyncMongoClient(settings.mongo_uri)
    broker = bus.new_broker(settings.nats_url, "translator")
    js = await bus.connect(broker)
    handlers.register(
        broker,
        js=js,
        db=mongo[settings.mongo_db],
        config=settings.gateway_config(),
        concurrency=int(os.environ.get("TRANSLATOR_CONCURRENCY", "64")),
    )
    try:
        await FastStream(broker).run()
    finally:
        await mongo.close()

"""Composition root of the worker: settings, the backend client, the broker."""

import logging
import os

from faststream import FastStream

from services.worker import backends, handlers
from shared import bus
from shared.config import Settings


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = Settings.from_env()
    client = backends.new_client()
    broker = bus.new_broker(settings.nats_url, "worker")
    js = await bus.connect(broker)
    handlers.register(
        broker,
        js=js,
        config=settings.gateway_config(),
        client=client,
        concurrency=int(os.environ.get("WORKER_CONCURRENCY", "256")),
    )
    try:
        await FastStream(broker).run()
    finally:
        await client.aclose()

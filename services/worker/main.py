"""Composition root of the worker: settings, the backend client, the broker."""

import os

from faststream import FastStream

from services.worker import backends, handlers, metrics
from services.worker.deployments import Pool
from shared import bus, logs
from shared.config import Settings


async def main() -> None:
    logs.configure("worker")
    settings = Settings.from_env()
    metrics.serve_from_env()
    client = backends.new_client()
    broker = bus.new_broker(settings.nats_url, "worker")
    js = await bus.connect(broker)
    handlers.register(
        broker,
        js=js,
        settings=settings,
        pool=Pool(settings.gateway_config()),
        client=client,
        concurrency=int(os.environ.get("WORKER_CONCURRENCY", "256")),
        ack_wait_s=float(os.environ.get("WORKER_ACK_WAIT_S", "30")),
    )
    try:
        await FastStream(broker).run()
    finally:
        await client.aclose()

"""Composition root of the worker: settings, the backend client, the broker."""

import os

from faststream import FastStream

from services.worker import handlers, metrics
from services.worker.deployments import Pool
from shared import bus, chatclient, logs
from shared.config import Settings, check_backend_keys, master_keys


async def main() -> None:
    logs.configure("worker")
    settings = Settings.from_env()
    master = master_keys()  # before any connection: without it the service must not start
    config = settings.gateway_config()
    check_backend_keys(config, os.environ)
    metrics.serve(settings)
    client = chatclient.new_client()
    broker = bus.new_broker(settings, "worker")
    js = await bus.connect(broker, settings=settings, master=master)
    await handlers.register(
        broker,
        js=js,
        settings=settings,
        pool=Pool(config),
        client=client,
        concurrency=int(os.environ.get("WORKER_CONCURRENCY", "256")),
        ack_wait_s=float(os.environ.get("WORKER_ACK_WAIT_S", "5")),
    )
    try:
        await FastStream(broker).run()
    finally:
        await client.aclose()

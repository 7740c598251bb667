"""Composition root of the worker: settings, the backend client, the broker."""

import os

from faststream import FastStream

from services.worker import builtin, handlers, metrics
from services.worker.deployments import Pool
from services.worker.logged import JetStreamLog
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
    # A configured tool's key missing: stop. MCP reads the client's server credentials from the log.
    executors = builtin.executors(config, client, os.environ, requests=JetStreamLog(js))
    await handlers.register(
        broker,
        js=js,
        settings=settings,
        pool=Pool(config),
        client=client,
        master=master,
        concurrency=int(os.environ.get("WORKER_CONCURRENCY", "256")),
        ack_wait_s=float(os.environ.get("WORKER_ACK_WAIT_S", "5")),
        executors=executors,
        max_steps=config.tools.max_steps,
    )
    try:
        await FastStream(broker).run()
    finally:
        await client.aclose()

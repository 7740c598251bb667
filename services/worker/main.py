"""Composition root of the worker: settings, the backend client, the broker."""

import os

from faststream import FastStream

from services.worker import builtin, handlers, metrics
from services.worker.deployments import Pool
from services.worker.failover import Backends
from services.worker.logged import JetStreamLog
from shared import bus, chatclient, logs
from shared.config import Settings, check_backend_keys, master_keys


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("worker", settings.log_level)
    master = master_keys()  # before any connection: without it the service must not start
    config = settings.gateway_config()
    # Backend and tool keys are secrets in variables the config names: read here, never into Settings.
    check_backend_keys(config, os.environ)
    metrics.serve(settings)
    client = chatclient.new_client()
    broker = bus.new_broker(settings, "worker")
    js = await bus.connect(broker, settings=settings, master=master)
    # A configured tool's key missing: stop. MCP reads the client's server credentials from the log.
    executors = builtin.executors(config, client, os.environ, requests=JetStreamLog(js))
    in_hand = await handlers.register(
        broker,
        js=js,
        settings=settings,
        backends=Backends(Pool(config), client),
        master=master,
        executors=executors,
        max_steps=config.tools.max_steps,
    )
    try:
        await FastStream(broker, on_shutdown=[in_hand.drain]).run()
    finally:
        await client.aclose()

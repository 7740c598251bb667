"""Composition root of the api: settings, MongoDB, the broker, the FastAPI app."""

import contextlib
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from faststream_fastapi import FastStreamAPI

from services.api import errors, keys, limits, metrics
from services.api.auth import static_keys
from services.api.deps import Gateway
from services.api.routes import admin, compact, conversations, health, input_tokens, models, responses
from shared import bus
from shared import mongo as mongo_client
from shared.config import Settings, master_keys
from shared.readmodel import usage


def create_app(settings: Settings) -> FastStreamAPI:
    config = settings.gateway_config()
    # Client keys are secrets in variables the config names, read here rather than into Settings; before
    # any connection, so that a missing one stops the start.
    static = static_keys(config, os.environ)
    master = master_keys()
    # Bounded like every other service's; no driver retries, since a rate counter's $inc is not
    # idempotent and the embedded stand-in pays for every retryable write (shared/mongo.py).
    mongo = mongo_client.client(settings.mongo_uri, retry_writes=False)
    broker = bus.new_broker(settings, "api")
    db = mongo[settings.mongo_db]
    gateway = Gateway(
        settings=settings,
        config=config,
        keys=keys.KeyRing(
            static,
            db[keys.COLLECTION],
            open=config.auth == "open",
            cache_s=settings.key_cache_s,
        ),
        limiter=limits.Limiter(db[limits.COLLECTION], db[usage.COLLECTION]),
        db=db,
        master=master,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gateway.js = await bus.connect(broker, settings=settings, master=master)
        gateway.nc = broker.connection
        await keys.ensure_indexes(db[keys.COLLECTION])
        await limits.ensure_indexes(db[limits.COLLECTION])
        yield
        await mongo.close()

    app = FastAPI(title="responses-gateway", lifespan=lifespan)
    app.state.gateway = gateway
    errors.install(app)
    app.add_middleware(metrics.Instrumented)
    for module in (responses, input_tokens, compact, conversations, models, health, admin, metrics):
        app.include_router(module.router)
    return FastStreamAPI(broker, application=app)

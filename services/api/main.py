"""Composition root of the api: settings, MongoDB, the broker, the FastAPI app."""

import contextlib
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from faststream_fastapi import FastStreamAPI
from pymongo import AsyncMongoClient

from services.api import errors
from services.api.auth import KeyTable
from services.api.deps import Gateway
from services.api.routes import health, models, responses
from shared import bus
from shared.config import GatewayConfig, Settings
from shared.ids import tenant_of_key


def key_table(config: GatewayConfig) -> KeyTable:
    """Static client keys: their values come from the environment variables the config names."""
    table: KeyTable = {}
    for entry in config.api_keys:
        key = os.environ.get(entry.key_env)
        if key:
            table[key] = entry.project or tenant_of_key(key)
    return table


def create_app(settings: Settings) -> FastStreamAPI:
    config = settings.gateway_config()
    mongo = AsyncMongoClient(settings.mongo_uri)
    broker = bus.new_broker(settings.nats_url, "api")
    gateway = Gateway(settings=settings, config=config, keys=key_table(config), db=mongo[settings.mongo_db])

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gateway.js = await bus.connect(broker)
        gateway.nc = broker.connection
        yield
        await mongo.close()

    app = FastAPI(title="responses-gateway", lifespan=lifespan)
    app.state.gateway = gateway
    errors.install(app)
    for module in (responses, models, health):
        app.include_router(module.router)
    return FastStreamAPI(broker, application=app)

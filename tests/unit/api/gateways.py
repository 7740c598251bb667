"""A FastAPI app around some of the api's routers and a ``Gateway`` with no server behind it: static keys
only (no managed one), and a database that fails the test that touches it. For routes whose answer needs
no server."""

from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from services.api import errors, keys, limits
from services.api.auth import static_keys
from services.api.deps import Gateway
from shared.config import GatewayConfig, Settings


class NoDatabase:
    """A database, collection or NATS connection no request here may use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a server was used: {name}")

    def __getitem__(self, name: str) -> "NoDatabase":
        return self


class NoManagedKeys:
    """The ``api_keys`` collection, holding no managed key."""

    async def find_one(self, query: dict[str, Any]) -> None:
        return None


def gateway(config: GatewayConfig, environ: Mapping[str, str], **fields: Any) -> Gateway:
    built = Gateway(
        settings=Settings(),
        config=config,
        keys=keys.KeyRing(static_keys(config, environ), NoManagedKeys(), open=config.auth == "open"),
        limiter=limits.Limiter(NoDatabase(), NoDatabase()),
        db=NoDatabase(),
    )
    for name, value in fields.items():
        setattr(built, name, value)
    return built


def app(gateway: Gateway, *routers: APIRouter) -> FastAPI:
    application = FastAPI()
    application.state.gateway = gateway
    errors.install(application)
    for router in routers:
        application.include_router(router)
    return application


def client(application: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=headers)

"""What every route needs, built once in ``main.py`` and handed out through ``Annotated`` aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from nats.aio.client import Client
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.api.auth import KeyTable, tenant_for
from shared.config import GatewayConfig, Settings


@dataclass
class Gateway:
    settings: Settings
    config: GatewayConfig
    keys: KeyTable
    db: AsyncDatabase
    nc: Client | None = None
    js: JetStreamContext | None = None


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def get_tenant(
    gateway: Annotated[Gateway, Depends(get_gateway)],
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    return tenant_for(authorization, gateway.keys)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
TenantDep = Annotated[str, Depends(get_tenant)]

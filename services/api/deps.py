"""What every route needs, built once in ``main.py`` and handed out through ``Annotated`` aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from nats.aio.client import Client
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.api.auth import Caller
from services.api.keys import KeyRing
from services.api.limits import Limiter
from shared.config import GatewayConfig, Settings
from shared.errors import PermissionDenied
from shared.readmodel.fresh import LogReads
from shared.sealing import MasterKeys


@dataclass
class Gateway:
    settings: Settings
    config: GatewayConfig
    keys: KeyRing
    limiter: Limiter
    db: AsyncDatabase
    # Opens the reasoning blobs stateless clients hand back (shared/reasoning_blobs.py).
    master: MasterKeys | None = None
    nc: Client | None = None
    js: JetStreamContext | None = None

    @property
    def log_reads(self) -> LogReads | None:
        """The log, for reads of what the store has not projected yet (shared/readmodel/fresh.py)."""
        return None if self.js is None else LogReads.of(self.js, self.settings)


# The dependencies are all ``async def``, even where nothing is awaited: FastAPI runs a plain ``def``
# dependency in its thread pool: a thread hop, and a GIL handover, on every request (bench/README.md).
async def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


async def get_caller(
    gateway: Annotated[Gateway, Depends(get_gateway)],
    authorization: Annotated[str | None, Header()] = None,
) -> Caller:
    return await gateway.keys.caller(authorization)


async def get_tenant(caller: Annotated[Caller, Depends(get_caller)]) -> str:
    return caller.tenant


async def get_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.admin:
        raise PermissionDenied("This operation needs an admin key.")
    return caller


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
CallerDep = Annotated[Caller, Depends(get_caller)]
TenantDep = Annotated[str, Depends(get_tenant)]
AdminDep = Annotated[Caller, Depends(get_admin)]

"""Liveness, and readiness: NATS, the store's database and a replica of every service answer."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.api.deps import Gateway, GatewayDep
from shared import subjects

router = APIRouter(prefix="/health")

_PING_TIMEOUT_S = 1.0


@router.get("/live")
async def live() -> dict:
    return {"status": "live"}


@router.get("/ready")
async def ready(gateway: GatewayDep) -> JSONResponse:
    checks = dict(
        zip(
            ["nats", "mongo", *subjects.SERVICES],
            await asyncio.gather(
                _nats_ok(gateway), _mongo_ok(gateway), *(_service_ok(gateway, s) for s in subjects.SERVICES)
            ),
            strict=True,
        )
    )
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
    )


async def _nats_ok(gateway: Gateway) -> bool:
    return gateway.nc is not None and gateway.nc.is_connected


async def _mongo_ok(gateway: Gateway) -> bool:
    try:
        await asyncio.wait_for(gateway.db.command("ping"), _PING_TIMEOUT_S)
    except Exception:
        return False
    return True


async def _service_ok(gateway: Gateway, service: str) -> bool:
    if gateway.nc is None:
        return False
    try:
        await gateway.nc.request(subjects.health(service), b"", timeout=_PING_TIMEOUT_S)
    except Exception:
        return False
    return True

"""What every route depends on (services/api/deps.py): the gateway built at start, the caller its key
names, that caller's tenant, and the admin check, through a route of each kind."""

from fastapi import APIRouter

from services.api.deps import AdminDep, CallerDep, GatewayDep, TenantDep
from shared.config import GatewayConfig
from shared.errors import PermissionDenied

from . import gateways

CONFIG = GatewayConfig.model_validate(
    {
        "models": [{"name": "m", "api_base": "http://backend/v1", "model": "up"}],
        "api_keys": [
            {"key_env": "KEY_A", "project": "team-a", "rpm": 5},
            {"key_env": "KEY_ROOT", "project": "ops", "admin": True},
        ],
    }
)
ENV = {"KEY_A": "sk-a", "KEY_ROOT": "sk-root"}

router = APIRouter()


@router.get("/gateway")
async def which_gateway(gateway: GatewayDep) -> dict:
    return {"same": gateway is GATEWAY}


@router.get("/caller")
async def who_calls(caller: CallerDep) -> dict:
    return {"tenant": caller.tenant, "key_id": caller.key_id, "admin": caller.admin, "rpm": caller.rpm}


@router.get("/tenant")
async def whose(tenant: TenantDep) -> dict:
    return {"tenant": tenant}


@router.get("/admin")
async def administer(caller: AdminDep) -> dict:
    return {"key_id": caller.key_id}


GATEWAY = gateways.gateway(CONFIG, ENV)
APP = gateways.app(GATEWAY, router)


async def test_routes_get_the_gateway_the_app_was_built_with():
    async with gateways.client(APP) as client:
        assert (await client.get("/gateway")).json() == {"same": True}


async def test_the_caller_is_the_one_the_bearer_key_names():
    async with gateways.client(APP, "sk-a") as client:
        reply = await client.get("/caller")
    assert reply.json() == {"tenant": "team-a", "key_id": "env:KEY_A", "admin": False, "rpm": 5}


async def test_the_tenant_is_the_callers_project():
    async with gateways.client(APP, "sk-root") as client:
        assert (await client.get("/tenant")).json() == {"tenant": "ops"}


async def test_a_request_without_a_key_never_reaches_the_route():
    async with gateways.client(APP) as client:
        reply = await client.get("/tenant")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"


async def test_an_admin_route_takes_an_admin_key():
    async with gateways.client(APP, "sk-root") as client:
        assert (await client.get("/admin")).json() == {"key_id": "env:KEY_ROOT"}


async def test_an_admin_route_refuses_an_ordinary_key():
    async with gateways.client(APP, "sk-a") as client:
        reply = await client.get("/admin")
    assert reply.status_code == PermissionDenied.status
    assert reply.json()["error"]["type"] == "permission_error"
    assert reply.json()["error"]["code"] == "permission_denied"

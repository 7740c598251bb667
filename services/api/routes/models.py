"""``/v1/models``: the client-facing model names of the config."""

from fastapi import APIRouter

from services.api.deps import GatewayDep, TenantDep

router = APIRouter(prefix="/v1")


@router.get("/models")
async def list_models(gateway: GatewayDep, _: TenantDep) -> dict:
    names = dict.fromkeys(d.name for d in gateway.config.models)  # several deployments share a name
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "responses-gateway"} for name in names]
    return {"object": "list", "data": data}

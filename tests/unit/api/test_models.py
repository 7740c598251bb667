"""``/v1/models`` (services/api/routes/models.py): the config's client-facing names, once each, in the
order the config gives them, to a known caller only."""

from services.api.routes import models
from shared.config import GatewayConfig

from . import gateways

CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {"name": "small", "api_base": "http://a/v1", "model": "s-1"},
            {"name": "large", "api_base": "http://a/v1", "model": "l-1"},
            {"name": "small", "api_base": "http://b/v1", "model": "s-2", "weight": 0},
        ],
        "api_keys": [{"key_env": "KEY_A", "project": "team-a"}],
    }
)
APP = gateways.app(gateways.gateway(CONFIG, {"KEY_A": "sk-a"}), models.router)


async def test_each_name_is_listed_once_in_config_order_whatever_serves_it():
    async with gateways.client(APP, "sk-a") as client:
        reply = await client.get("/v1/models")
    assert reply.status_code == 200
    listing = reply.json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["small", "large"]
    assert all(m["object"] == "model" and m["owned_by"] for m in listing["data"])


async def test_no_backend_detail_is_shown():
    async with gateways.client(APP, "sk-a") as client:
        text = (await client.get("/v1/models")).text
    for detail in ("http://a/v1", "s-1", "l-1", "small#1"):
        assert detail not in text


async def test_an_unknown_caller_is_refused():
    async with gateways.client(APP, "sk-wrong") as client:
        reply = await client.get("/v1/models")
    assert reply.status_code == 401

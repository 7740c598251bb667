"""``/v1/admin`` (services/api/routes/admin.py) without a server: every route refuses a caller that is
not an admin, and a bad request, before it reads or writes anything. What the routes do to stored keys
and usage is in tests/contract/api/test_admin.py."""

import pytest

from services.api.routes import admin
from shared.config import GatewayConfig

from . import gateways

CONFIG = GatewayConfig.model_validate(
    {
        "models": [{"name": "m", "api_base": "http://b/v1", "model": "up"}],
        "api_keys": [
            {"key_env": "KEY_A", "project": "team-a"},
            {"key_env": "KEY_ROOT", "project": "ops", "admin": True},
        ],
    }
)
ENV = {"KEY_A": "sk-a", "KEY_ROOT": "sk-root"}


class BareConnection:
    """A JetStream context that does not seal (no data keys were set up on it)."""


APP = gateways.app(gateways.gateway(CONFIG, ENV, js=BareConnection()), admin.router)

ROUTES = [
    ("POST", "/v1/admin/keys", {"name": "ci", "project": "team-a"}),
    ("GET", "/v1/admin/keys", None),
    ("DELETE", "/v1/admin/keys/key_1", None),
    ("POST", "/v1/admin/projects/team-a/erase", None),
    ("GET", "/v1/admin/usage", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(("key", "status"), [("sk-a", 403), (None, 401), ("sk-unknown", 401)])
async def test_only_an_admin_key_gets_past_the_door(method, path, body, key, status):
    async with gateways.client(APP, key) as client:
        reply = await client.request(method, path, json=body)
    assert reply.status_code == status
    assert reply.json()["error"]["type"] in {"permission_error", "authentication_error"}


@pytest.mark.parametrize("since", ["nan", "inf", "-inf", "1e400", "yesterday", "2026-13-01"])
async def test_usage_since_no_instant_is_refused(since):
    async with gateways.client(APP, "sk-root") as client:
        reply = await client.get("/v1/admin/usage", params={"since": since})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("since", "invalid_value")


async def test_usage_grouped_by_an_unknown_field_is_refused():
    async with gateways.client(APP, "sk-root") as client:
        reply = await client.get("/v1/admin/usage", params={"group_by": "colour"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "group_by"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"project": "team-a"}, "name"),
        ({"name": "", "project": "team-a"}, "name"),
        ({"name": "ci", "project": "team-a", "rpm": 0}, "rpm"),
        ({"name": "ci", "project": "team-a", "tpm": 2**31}, "tpm"),
        ({"name": "ci", "project": "team-a", "owner": "me"}, "owner"),
    ],
)
async def test_a_key_that_could_not_work_is_not_created(body, param):
    async with gateways.client(APP, "sk-root") as client:
        reply = await client.post("/v1/admin/keys", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


async def test_erasing_on_a_gateway_that_does_not_seal_is_refused_without_touching_anything():
    async with gateways.client(APP, "sk-root") as client:
        reply = await client.post("/v1/admin/projects/team-a/erase")
    assert reply.status_code == 500
    assert "does not seal" in reply.json()["error"]["message"]

"""The api's composition root (services/api/main.py): it refuses to start without its master key, with a
client key variable unset or with a config that does not load, before it reaches for any server; a
complete configuration yields the whole app (every router, the OpenAI-shaped errors, the auth mode the
config asks for) without connecting to anything until it is started."""

import httpx

from services.api import main as api_main
from shared.config import Settings

from .conftest import Environment

KEYS = [{"key_env": "KEY_A", "project": "team-a"}, {"key_env": "KEY_ROOT", "project": "ops", "admin": True}]


def _create():
    return api_main.create_app(Settings.from_env())


def _client(app, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    # An ASGI transport sends no lifespan events: nothing connects.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers)


async def test_no_master_key_stops_the_start_before_any_connection(no_servers: Environment):
    no_servers.unset("GATEWAY_MASTER_KEY")
    await no_servers.refused(_create, "no master key")


async def test_an_unset_client_key_variable_stops_the_start_naming_it(no_servers: Environment):
    no_servers.config(api_keys=KEYS)
    no_servers.set("KEY_A", "sk-a")
    said = await no_servers.refused(_create, "api_keys name environment variables")
    assert "KEY_ROOT" in said and "KEY_A" not in said and "sk-a" not in said


async def test_a_config_that_does_not_load_stops_the_start(no_servers: Environment):
    no_servers.config(auth="sometimes")
    await no_servers.refused(_create, "auth")


async def test_every_endpoint_is_routed(environment: Environment):
    app = _create()
    async with _client(app) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
        metrics = await client.get("/metrics")
    routed = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    assert {
        ("POST", "/v1/responses"),
        ("GET", "/v1/responses/{response_id}"),
        ("DELETE", "/v1/responses/{response_id}"),
        ("POST", "/v1/responses/{response_id}/cancel"),
        ("GET", "/v1/responses/{response_id}/input_items"),
        ("POST", "/v1/responses/input_tokens"),
        ("POST", "/v1/responses/compact"),
        ("GET", "/v1/models"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("POST", "/v1/admin/keys"),
        ("GET", "/v1/admin/usage"),
    } <= routed
    assert metrics.status_code == 200


async def test_a_keys_config_refuses_a_caller_without_a_key_and_serves_a_static_one(environment: Environment):
    environment.config(api_keys=KEYS)
    environment.set("KEY_A", "sk-a")
    environment.set("KEY_ROOT", "sk-root")
    app = _create()
    async with _client(app) as anonymous, _client(app, "sk-a") as known:
        refused = await anonymous.get("/v1/models")
        served = await known.get("/v1/models")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert served.status_code == 200
    assert [m["id"] for m in served.json()["data"]] == ["m"]


async def test_an_open_config_serves_a_caller_without_a_key(environment: Environment):
    environment.config(auth="open")
    app = _create()
    async with _client(app) as client:
        assert (await client.get("/v1/models")).status_code == 200


async def test_errors_are_openai_shaped(environment: Environment):
    app = _create()
    async with _client(app) as client:
        reply = await client.get("/v1/nowhere")
    assert reply.status_code == 404
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}


def test_the_process_exits_non_zero_with_one_line_when_misconfigured(environment: Environment):
    environment.unset("GATEWAY_MASTER_KEY")
    status, line = environment.process_refusal("api")
    assert status != 0
    assert line.startswith("api: cannot start: no master key")

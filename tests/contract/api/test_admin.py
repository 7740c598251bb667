"""``/v1/admin`` (services/api/routes/admin.py) against the MongoDB stand-in and a JetStream server: an
admin creates, lists and revokes keys (a revoked key stops working), reads usage, and erases a project
(its data keys destroyed, its responses gone, other projects untouched)."""

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.api import errors, keys, limits
from services.api.auth import static_keys
from services.api.deps import Gateway
from services.api.routes import admin, models
from shared import eventlog, sealing
from shared.config import GatewayConfig, Settings
from shared.datakeys import DataKeys, KeyDestroyed
from shared.readmodel import repository, usage

CONFIG = GatewayConfig.model_validate(
    {
        "models": [{"name": "m", "api_base": "http://b/v1", "model": "up"}],
        "api_keys": [{"key_env": "KEY_ROOT", "project": "ops", "admin": True}],
    }
)
MASTER = sealing.MasterKeys(os.urandom(32))


@pytest.fixture
async def gateway(db: AsyncDatabase, nats_url: str) -> AsyncIterator[Gateway]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await eventlog.seal_with(js, MASTER, ttl_s=3600)
    try:
        yield Gateway(
            settings=Settings(),
            config=CONFIG,
            keys=keys.KeyRing(static_keys(CONFIG, {"KEY_ROOT": "sk-root"}), db[keys.COLLECTION], cache_s=0),
            limiter=limits.Limiter(db[limits.COLLECTION], db[usage.COLLECTION]),
            db=db,
            nc=nc,
            js=js,
        )
    finally:
        await nc.close()


def _client(gateway: Gateway, key: str) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.gateway = gateway
    errors.install(app)
    app.include_router(admin.router)
    app.include_router(models.router)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {key}"}
    )


async def test_a_created_key_works_until_it_is_revoked(gateway: Gateway):
    async with _client(gateway, "sk-root") as root:
        created = (
            await root.post("/v1/admin/keys", json={"name": "ci", "project": "team-a", "rpm": 9})
        ).json()
        listed = (await root.get("/v1/admin/keys", params={"project": "team-a"})).json()
        async with _client(gateway, created["key"]) as ci:
            assert (await ci.get("/v1/models")).status_code == 200
            revoked = await root.delete(f"/v1/admin/keys/{created['id']}")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
            assert (await ci.get("/v1/models")).status_code == 401
    assert listed["object"] == "list"
    assert [k["id"] for k in listed["data"]] == [created["id"]]
    assert "key" not in listed["data"][0] and "hash" not in listed["data"][0]


async def test_a_managed_admin_key_administers_too(gateway: Gateway):
    async with _client(gateway, "sk-root") as root:
        created = (
            await root.post("/v1/admin/keys", json={"name": "ops2", "project": "ops", "admin": True})
        ).json()
    async with _client(gateway, created["key"]) as second:
        assert (await second.get("/v1/admin/keys")).status_code == 200


async def test_revoking_an_unknown_key_is_not_found(gateway: Gateway):
    async with _client(gateway, "sk-root") as root:
        reply = await root.delete("/v1/admin/keys/key_nope")
    assert reply.status_code == 404
    assert reply.json()["error"]["param"] == "key_id"


async def test_usage_is_summed_per_group_since_a_time(gateway: Gateway, db: AsyncDatabase):
    rows = [
        {"_id": "r1", "tenant": "team-a", "model": "m", "finished_at": 2000.0, "status": "completed"},
        {"_id": "r2", "tenant": "team-a", "model": "m", "finished_at": 3000.0, "status": "failed"},
        {"_id": "r3", "tenant": "team-b", "model": "m", "finished_at": 3000.0, "status": "completed"},
        {"_id": "r0", "tenant": "team-a", "model": "m", "finished_at": 10.0, "status": "completed"},
    ]
    await db[usage.COLLECTION].insert_many([{**r, "total_tokens": 10, "cost_usd": 0.5} for r in rows])
    async with _client(gateway, "sk-root") as root:
        reply = await root.get("/v1/admin/usage", params={"group_by": "project", "since": "1000"})
    body = reply.json()
    assert (body["group_by"], body["since"]) == ("project", 1000.0)
    by_project = {row["project"]: row for row in body["data"]}
    assert set(by_project) == {"team-a", "team-b"}
    assert (by_project["team-a"]["requests"], by_project["team-a"]["errors"]) == (2, 1)
    assert by_project["team-a"]["total_tokens"] == 20


async def test_erasing_a_project_destroys_its_keys_and_its_responses_only(
    gateway: Gateway, db: AsyncDatabase
):
    project, other = f"erase-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    data_keys = eventlog.data_keys(gateway.js)
    for response_id, tenant in [("resp_e1", project), ("resp_e2", project), ("resp_k1", other)]:
        await data_keys.create(tenant, response_id)
        await repository.responses(db).insert_one({"_id": response_id, "tenant": tenant})

    async with _client(gateway, "sk-root") as root:
        reply = await root.post(f"/v1/admin/projects/{project}/erase")

    assert reply.status_code == 200
    report = reply.json()
    assert (report["project"], report["erased_keys"], report["erased_responses"]) == (project, 2, 2)
    assert [d["_id"] async for d in repository.responses(db).find({})] == ["resp_k1"]
    reader = await DataKeys.open(gateway.js, MASTER, replicas=1, ttl_s=3600, cache_s=0)
    with pytest.raises(KeyDestroyed):
        await reader.get(project, "resp_e1")
    assert await reader.get(other, "resp_k1")

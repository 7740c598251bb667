"""``/health`` (services/api/routes/health.py): live whenever the process answers; ready only while NATS,
MongoDB and a replica of every service answer, with each check reported."""

from typing import Any

from services.api.routes import health
from shared import subjects
from shared.config import GatewayConfig

from . import gateways

CONFIG = GatewayConfig.model_validate({"models": [{"name": "m", "api_base": "http://b/v1", "model": "up"}]})


class Database:
    def __init__(self, up: bool) -> None:
        self.up = up
        self.commands: list[str] = []

    async def command(self, name: str) -> dict[str, Any]:
        self.commands.append(name)
        if not self.up:
            raise ConnectionError("no MongoDB")
        return {"ok": 1}


class Nats:
    """A NATS connection on which the services in ``answering`` reply to their health subject."""

    def __init__(self, *answering: str, connected: bool = True) -> None:
        self.answering = {subjects.health(s) for s in answering}
        self.is_connected = connected
        self.asked: list[str] = []

    async def request(self, subject: str, payload: bytes, *, timeout: float) -> bytes:
        self.asked.append(subject)
        if subject not in self.answering:
            raise TimeoutError(subject)
        return b""


def _app(**fields: Any):
    return gateways.app(gateways.gateway(CONFIG, {}, **fields), health.router)


async def test_live_answers_without_any_dependency():
    async with gateways.client(_app()) as client:
        reply = await client.get("/health/live")
    assert (reply.status_code, reply.json()) == (200, {"status": "live"})


async def test_ready_when_everything_answers():
    nc, db = Nats(*subjects.SERVICES), Database(up=True)
    async with gateways.client(_app(nc=nc, db=db)) as client:
        reply = await client.get("/health/ready")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ready",
        "checks": {"nats": True, "mongo": True, **dict.fromkeys(subjects.SERVICES, True)},
    }
    assert sorted(nc.asked) == sorted(subjects.health(s) for s in subjects.SERVICES)
    assert db.commands == ["ping"]


async def test_a_service_without_a_replica_makes_it_not_ready_and_is_named():
    silent = subjects.SERVICES[-1]
    nc = Nats(*(s for s in subjects.SERVICES if s != silent))
    async with gateways.client(_app(nc=nc, db=Database(up=True))) as client:
        reply = await client.get("/health/ready")
    assert reply.status_code == 503
    body = reply.json()
    assert body["status"] == "not_ready"
    assert [name for name, ok in body["checks"].items() if not ok] == [silent]


async def test_mongo_down_makes_it_not_ready():
    async with gateways.client(_app(nc=Nats(*subjects.SERVICES), db=Database(up=False))) as client:
        reply = await client.get("/health/ready")
    assert reply.status_code == 503
    assert reply.json()["checks"]["mongo"] is False


async def test_before_nats_is_connected_nothing_that_needs_it_is_ready():
    async with gateways.client(_app(nc=None, db=Database(up=True))) as client:
        reply = await client.get("/health/ready")
    assert reply.status_code == 503
    checks = reply.json()["checks"]
    assert checks == {"nats": False, "mongo": True, **dict.fromkeys(subjects.SERVICES, False)}


async def test_a_disconnected_nats_is_not_ready():
    nc = Nats(*subjects.SERVICES, connected=False)
    async with gateways.client(_app(nc=nc, db=Database(up=True))) as client:
        reply = await client.get("/health/ready")
    assert reply.status_code == 503
    assert reply.json()["checks"]["nats"] is False

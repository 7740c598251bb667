import pytest

from services.api.auth import ANONYMOUS, Caller, key_hash, presented_key, static_keys
from services.api.keys import KeyRing
from shared.config import GatewayConfig
from shared.errors import AuthenticationFailed

CONFIG = GatewayConfig.model_validate(
    {
        "models": [{"name": "m", "api_base": "http://x/v1", "model": "up"}],
        "api_keys": [
            {"key_env": "KEY_A", "project": "team-a", "rpm": 5},
            {"key_env": "KEY_ROOT", "project": "ops", "admin": True},
            {"key_env": "KEY_UNSET", "project": "nobody"},
        ],
    }
)
ENV = {"KEY_A": "sk-a", "KEY_ROOT": "sk-root"}


class FakeKeys:
    """The ``api_keys`` collection: only the two lookups the key ring makes."""

    def __init__(self, *docs: dict) -> None:
        self.docs = list(docs)
        self.queries = 0

    async def find_one(self, query: dict, projection: dict | None = None) -> dict | None:
        self.queries += 1
        return next((d for d in self.docs if all(d.get(k) == v for k, v in query.items())), None)


def managed(key: str, project: str = "team-m", **extra: object) -> dict:
    doc = {"_id": f"key_{project}", "hash": key_hash(key), "project": project, "admin": False}
    return doc | {"revoked_at": None} | extra


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("header", "key"),
    [("Bearer sk-a", "sk-a"), ("bearer  sk-a ", "sk-a"), (None, None), ("", None), ("Basic sk-a", None)],
)
def test_presented_key(header, key):
    assert presented_key(header) == key


def test_static_keys_are_hashed_and_carry_project_limits_and_admin():
    table = static_keys(CONFIG, ENV)
    assert set(table) == {key_hash("sk-a"), key_hash("sk-root")}  # an unset variable adds no key
    assert table[key_hash("sk-a")] == Caller(tenant="team-a", key_id="env:KEY_A", rpm=5)
    assert table[key_hash("sk-root")].admin


async def test_open_gateway_has_one_tenant():
    ring = KeyRing({}, FakeKeys())
    assert await ring.caller(None) == ANONYMOUS
    assert await ring.caller("Bearer whatever") == ANONYMOUS


async def test_a_managed_key_closes_an_open_gateway():
    ring = KeyRing({}, FakeKeys(managed("sk-m")))
    assert (await ring.caller("Bearer sk-m")).tenant == "team-m"
    with pytest.raises(AuthenticationFailed):
        await ring.caller("Bearer whatever")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer sk-c", "Basic sk-a", "sk-a"])
async def test_missing_or_unknown_key_fails(header):
    with pytest.raises(AuthenticationFailed) as err:
        await KeyRing(static_keys(CONFIG, ENV), FakeKeys()).caller(header)
    assert err.value.status == 401 and "sk-" not in err.value.message


async def test_managed_keys_are_cached_and_revocation_holds_after_the_cache():
    clock, keys = Clock(), FakeKeys(managed("sk-m", rpm=3))
    ring = KeyRing(static_keys(CONFIG, ENV), keys, cache_s=2.0, clock=clock)
    assert await ring.caller("Bearer sk-m") == Caller(tenant="team-m", key_id="key_team-m", rpm=3)
    assert await ring.caller("Bearer sk-a") == static_keys(CONFIG, ENV)[key_hash("sk-a")]
    await ring.caller("Bearer sk-m")
    assert keys.queries == 1  # the static key and the cached one cost no query

    keys.docs[0]["revoked_at"] = 1
    clock.now += 2.5
    with pytest.raises(AuthenticationFailed):
        await ring.caller("Bearer sk-m")

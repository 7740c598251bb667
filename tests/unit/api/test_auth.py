import pytest

from services.api.auth import ANONYMOUS, Caller, key_hash, presented_key, static_keys
from services.api.keys import KeyRing
from services.api.metrics import token_matches
from shared.config import ConfigError, GatewayConfig, load_gateway_config
from shared.errors import AuthenticationFailed

MODELS = [{"name": "m", "api_base": "http://x/v1", "model": "up"}]
CONFIG = GatewayConfig.model_validate(
    {
        "models": MODELS,
        "api_keys": [
            {"key_env": "KEY_A", "project": "team-a", "rpm": 5},
            {"key_env": "KEY_ROOT", "project": "ops", "admin": True},
        ],
    }
)
ENV = {"KEY_A": "sk-a", "KEY_ROOT": "sk-root"}


class FakeKeys:
    """The ``api_keys`` collection: only the lookup the key ring makes."""

    def __init__(self, *docs: dict) -> None:
        self.docs = list(docs)
        self.queries = 0

    async def find_one(self, query: dict) -> dict | None:
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
    assert set(table) == {key_hash("sk-a"), key_hash("sk-root")}
    assert table[key_hash("sk-a")] == Caller(tenant="team-a", key_id="env:KEY_A", rpm=5)
    assert table[key_hash("sk-root")].admin


@pytest.mark.parametrize("environ", [{"KEY_A": "sk-a"}, {"KEY_A": "sk-a", "KEY_ROOT": ""}])
def test_a_static_key_whose_variable_is_unset_or_empty_stops_the_start(environ):
    with pytest.raises(ConfigError) as err:
        static_keys(CONFIG, environ)
    assert "KEY_ROOT" in str(err.value) and "KEY_A" not in str(err.value)
    assert "\n" not in str(err.value)


def test_auth_defaults_to_keys_and_takes_no_other_mode(tmp_path):
    assert GatewayConfig.model_validate({"models": MODELS}).auth == "keys"
    assert GatewayConfig.model_validate({"models": MODELS, "auth": "open"}).auth == "open"
    path = tmp_path / "gateway.yaml"
    path.write_text("models: []\nauth: none\n")
    with pytest.raises(ConfigError) as err:
        load_gateway_config(path)
    assert str(err.value) == f"{path}: auth: Input should be 'keys' or 'open'"


async def test_an_open_gateway_serves_unknown_keys_as_one_tenant_and_known_keys_as_theirs():
    ring = KeyRing(static_keys(CONFIG, ENV), FakeKeys(managed("sk-m")), open=True)
    assert await ring.caller(None) == ANONYMOUS
    assert await ring.caller("Bearer whatever") == ANONYMOUS
    assert (await ring.caller("Bearer sk-a")).tenant == "team-a"
    assert (await ring.caller("Bearer sk-m")).tenant == "team-m"


@pytest.mark.parametrize("header", [None, "Bearer whatever"])
async def test_a_keys_gateway_without_any_key_refuses_everything(header):
    with pytest.raises(AuthenticationFailed):
        await KeyRing({}, FakeKeys()).caller(header)


async def test_revoking_the_last_managed_key_never_opens_the_gateway():
    clock, keys = Clock(), FakeKeys(managed("sk-m"))
    ring = KeyRing({}, keys, cache_s=2.0, clock=clock)
    assert (await ring.caller("Bearer sk-m")).tenant == "team-m"
    keys.docs[0]["revoked_at"] = 1  # no active key left
    clock.now += 2.5
    for header in ("Bearer sk-m", "Bearer whatever", None):
        with pytest.raises(AuthenticationFailed):
            await ring.caller(header)


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


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("Bearer tok-1", True),
        ("bearer tok-1", True),
        ("Bearer tok-2", False),
        (None, False),
        ("tok-1", False),
    ],
)
def test_metrics_token_must_be_presented_as_a_bearer_key(header, allowed):
    assert token_matches("tok-1", header) is allowed

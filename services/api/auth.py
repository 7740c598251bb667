"""Who is calling: a Bearer key resolved to a ``Caller``, the project (tenant) that owns what it creates,
with its limits and whether it may administer the gateway. Pure: keys are compared by their sha256,
the form in which managed keys are stored (``services/api/keys.py`` looks those up)."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import ConfigError, GatewayConfig
from shared.errors import AuthenticationFailed
from shared.ids import ANONYMOUS_TENANT, tenant_of_key


@dataclass(frozen=True)
class Caller:
    tenant: str
    key_id: str | None = None  # never the key: a managed key's id, or `env:<VAR>` for a static one
    admin: bool = False
    rpm: int | None = None
    tpm: int | None = None


ANONYMOUS = Caller(tenant=ANONYMOUS_TENANT)

KeyTable = dict[str, Caller]  # sha256 hex of the key -> its caller


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(authorization: str | None) -> str | None:
    """The key of a ``Bearer`` header, or None when there is none."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    return presented.strip()


def static_keys(config: GatewayConfig, environ: Mapping[str, str]) -> KeyTable:
    """The config's keys, whose values come from the environment variables it names.

    Raises ``ConfigError`` when a named variable is unset or empty: skipping that key would leave its
    clients locked out, or the gateway running on fewer keys than its operator thinks."""
    if missing := [entry.key_env for entry in config.api_keys if not environ.get(entry.key_env)]:
        raise ConfigError(
            f"api_keys name environment variables that are unset or empty: {', '.join(missing)}"
        )
    table: KeyTable = {}
    for entry in config.api_keys:
        key = environ[entry.key_env]
        table[key_hash(key)] = Caller(
            tenant=entry.project or tenant_of_key(key),
            key_id=f"env:{entry.key_env}",
            admin=entry.admin,
            rpm=entry.rpm,
            tpm=entry.tpm,
        )
    return table


def missing_key() -> AuthenticationFailed:
    return AuthenticationFailed(
        "You didn't provide an API key. Provide it in an Authorization header using Bearer auth."
    )


def incorrect_key() -> AuthenticationFailed:
    return AuthenticationFailed("Incorrect API key provided.")

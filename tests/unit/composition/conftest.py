"""The environment a service's composition root starts in, with no server anywhere: a config file, a
master key, and every way to a server (the broker, MongoDB) replaced by one that records the attempt
and stops the start there. A root that refuses its configuration must do so before that point."""

import base64
import inspect
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import bus, logs, mongo
from shared.config import ENVIRONMENT, ConfigError

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
MODELS = [{"name": "m", "api_base": "http://backend/v1", "model": "up"}]
# Everything the roots and Settings.from_env read, so the developer's own environment cannot leak in.
VARIABLES = [
    *ENVIRONMENT.values(),
    *("GATEWAY_MASTER_KEY", "GATEWAY_MASTER_KEY_FILE", "GATEWAY_RETIRED_MASTER_KEYS"),
]


class Connected(Exception):
    """A composition root reached for a server."""


class App:
    """FastStream's application, recorded: what a root would run, with what at shutdown."""

    ran: list[Any] = []

    def __init__(self, broker: Any, *, on_shutdown: list[Any]) -> None:
        self.broker = broker
        self.on_shutdown = on_shutdown

    async def run(self) -> None:
        App.ran.append(self)


class InHand:
    """What a service's handlers hold at shutdown (``shared.inhand.InHand``), as registering returns it."""

    async def drain(self) -> None:
        pass


@dataclass
class Environment:
    monkeypatch: pytest.MonkeyPatch
    config_path: Path
    connections: list[str] = field(default_factory=list)
    logging: list[tuple[str, str]] = field(default_factory=list)  # (service, level)

    def config(self, **config: Any) -> None:
        self.config_path.write_text(yaml.safe_dump({"models": MODELS, **config}))

    def set(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def unset(self, name: str) -> None:
        self.monkeypatch.delenv(name, raising=False)

    async def refused(self, start: Callable[[], Any], match: str) -> str:
        """Start a composition root (a ``main`` or ``create_app``): it must refuse with a ``ConfigError``
        matching ``match`` before reaching for any server. Returns what it said."""
        with pytest.raises(ConfigError, match=match) as refusal:
            started = start()
            if inspect.isawaitable(started):
                await started
        assert self.connections == []
        return str(refusal.value)

    def process_refusal(self, service: str) -> tuple[int, str]:
        """``python -m services.<service>`` run to its end here: its exit status and last line."""
        done = subprocess.run(
            [sys.executable, "-m", f"services.{service}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stderr.strip().splitlines()[-1]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Environment:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = Environment(monkeypatch, tmp_path / "gateway.yaml")
    env.config()
    env.set("GATEWAY_CONFIG", str(env.config_path))
    env.set("GATEWAY_MASTER_KEY", MASTER_KEY)
    # Unreachable on purpose: a root that gets past the recorders below must not find a server either.
    env.set("NATS_URL", "nats://127.0.0.1:9")
    env.set("MONGO_URI", "mongodb://127.0.0.1:9")
    monkeypatch.setattr(logs, "configure", lambda service, level: env.logging.append((service, level)))
    return env


@pytest.fixture
def no_servers(environment: Environment, monkeypatch: pytest.MonkeyPatch) -> Environment:
    """Every way to a server records itself and stops the start."""

    def reached(what: str):
        def attempt(*args: Any, **kwargs: Any) -> Any:
            environment.connections.append(what)
            raise Connected(what)

        return attempt

    monkeypatch.setattr(bus, "new_broker", reached("nats"))
    monkeypatch.setattr(mongo, "client", reached("mongo"))
    return environment

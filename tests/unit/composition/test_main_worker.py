"""The worker's composition root (services/worker/main.py): it refuses to start without its master key,
with a backend key variable unset or with a config that does not load, before it reaches for any server;
a complete configuration is wired into the handlers it registers."""

from typing import Any

import httpx
import pytest

from services.worker import handlers
from services.worker import main as worker_main
from shared import bus

from .conftest import MODELS, App, Connected, Environment, InHand

KEYED = [
    {**MODELS[0], "api_key_env": "BACKEND_KEY"},
    {**MODELS[0], "model": "up-2", "api_key_env": "OTHER_KEY"},
]


async def test_no_master_key_stops_the_start_before_any_connection(no_servers: Environment):
    no_servers.unset("GATEWAY_MASTER_KEY")
    await no_servers.refused(worker_main.main, "no master key")


async def test_an_unset_backend_key_stops_the_start_naming_it(no_servers: Environment):
    no_servers.config(models=KEYED)
    no_servers.set("BACKEND_KEY", "sk-backend")
    no_servers.set("OTHER_KEY", "")
    said = await no_servers.refused(worker_main.main, "backend key variables are unset or empty")
    assert "OTHER_KEY" in said and "BACKEND_KEY" not in said and "sk-backend" not in said


async def test_a_config_that_does_not_load_stops_the_start(no_servers: Environment):
    no_servers.config(fallbacks={"m": ["missing"]})
    await no_servers.refused(worker_main.main, "missing")


async def test_a_complete_configuration_gets_as_far_as_nats(no_servers: Environment):
    no_servers.config(models=KEYED)
    no_servers.set("BACKEND_KEY", "sk-backend")
    no_servers.set("OTHER_KEY", "sk-other")
    with pytest.raises(Connected):
        await worker_main.main()
    assert no_servers.connections == ["nats"]
    assert no_servers.logging == [("worker", "INFO")]


class Broker:
    connection = None


async def test_the_handlers_get_the_pool_the_client_and_the_settings_of_the_environment(
    environment: Environment, monkeypatch: pytest.MonkeyPatch
):
    environment.config(models=KEYED, cooldown={"failures": 7, "seconds": 1})
    environment.set("BACKEND_KEY", "sk-backend")
    environment.set("OTHER_KEY", "sk-other")
    environment.set("WORKER_CONCURRENCY", "12")
    environment.set("WORKER_ACK_WAIT_S", "9.5")
    environment.set("RESPONSE_TTL_S", "3600")
    environment.set("LOG_LEVEL", "DEBUG")
    broker, js, registered, connected, calls = Broker(), object(), [], [], InHand()

    async def connect(given: Any, **kwargs: Any) -> object:
        connected.append((given, kwargs))
        return js

    async def register(given: Any, **kwargs: Any) -> InHand:
        registered.append((given, kwargs))
        return calls

    monkeypatch.setattr(bus, "new_broker", lambda settings, service: broker)
    monkeypatch.setattr(bus, "connect", connect)
    monkeypatch.setattr(handlers, "register", register)
    monkeypatch.setattr(worker_main, "FastStream", App)

    await worker_main.main()

    ((given, options),) = connected
    assert given is broker
    # The streams and the data keys' lifetime (response_ttl_s) follow the same settings as the handlers.
    assert options["settings"].response_ttl_s == 3600
    assert options["master"] is not None  # the log is sealed
    ((given, wiring),) = registered
    assert given is broker and wiring["js"] is js
    assert environment.logging == [("worker", "DEBUG")]
    assert wiring["settings"] is options["settings"]
    assert (wiring["settings"].worker_concurrency, wiring["settings"].worker_ack_wait_s) == (12, 9.5)
    backends = wiring["backends"]
    assert [d.model for d in backends.pool.config.models] == ["up", "up-2"]
    assert isinstance(backends.client, httpx.AsyncClient)
    assert backends.client.is_closed  # given back once the service stops
    assert App.ran[-1].broker is broker
    assert App.ran[-1].on_shutdown == [calls.drain]  # the runs in hand end before the connection closes


def test_the_process_exits_non_zero_with_one_line_when_misconfigured(environment: Environment):
    environment.unset("GATEWAY_MASTER_KEY")
    status, line = environment.process_refusal("worker")
    assert status != 0
    assert line.startswith("worker: cannot start: no master key")

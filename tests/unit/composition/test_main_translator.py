"""The translator's composition root (services/translator/main.py): without its master key it refuses to
start before it reaches for any server; with one it goes on to its servers; the requests in hand
are drained at shutdown."""

from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

from services.translator import handlers
from services.translator import main as translator_main
from shared import bus, consumers, deadletter, mongo

from .conftest import App, Connected, Environment, InHand


async def test_no_master_key_stops_the_start_before_any_connection(no_servers: Environment):
    no_servers.unset("GATEWAY_MASTER_KEY")
    await no_servers.refused(translator_main.main, "no master key")


async def test_a_complete_configuration_gets_as_far_as_its_servers(no_servers: Environment):
    with pytest.raises(Connected):
        await translator_main.main()
    assert no_servers.connections
    assert no_servers.logging == [("translator", "INFO")]


async def test_a_config_that_does_not_load_stops_the_start_before_any_connection(no_servers: Environment):
    no_servers.config(fallbacks={"m": ["missing"]})
    await no_servers.refused(translator_main.main, "missing")


def test_the_process_exits_non_zero_with_one_line_when_misconfigured(environment: Environment):
    environment.unset("GATEWAY_MASTER_KEY")
    status, line = environment.process_refusal("translator")
    assert status != 0
    assert line.startswith("translator: cannot start: no master key")


async def test_the_requests_in_hand_end_before_the_connection_closes(
    environment: Environment, monkeypatch: pytest.MonkeyPatch
):
    broker, in_hand = SimpleNamespace(connection=None), InHand()

    async def connect(given: Any, **kwargs: Any) -> object:
        return object()

    async def nothing(*args: Any, **kwargs: Any) -> None:
        pass

    monkeypatch.setattr(mongo, "client", lambda uri: MagicMock(close=AsyncMock()))
    monkeypatch.setattr(bus, "new_broker", lambda settings, service: broker)
    monkeypatch.setattr(bus, "connect", connect)
    monkeypatch.setattr(handlers, "register", lambda given, **kwargs: in_hand)
    monkeypatch.setattr(consumers, "update_durable", nothing)
    monkeypatch.setattr(deadletter, "watch_exhausted", nothing)
    monkeypatch.setattr(translator_main, "FastStream", App)

    await translator_main.main()

    assert App.ran[-1].broker is broker
    assert App.ran[-1].on_shutdown == [in_hand.drain]

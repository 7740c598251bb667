"""The translator's composition root (services/translator/main.py): without its master key it refuses to
start before it reaches for any server; with one it goes on to its servers."""

import pytest

from services.translator import main as translator_main

from .conftest import Connected, Environment


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

"""The store's composition root (services/store/main.py): without a usable master key it refuses to start
before it reaches for any server; with one it goes on to MongoDB. Its wiring against real servers is
exercised by every integration test (the store projects each response they read back)."""

import pytest

from services.store import main as store_main

from .conftest import Connected, Environment


async def test_no_master_key_stops_the_start_before_any_connection(no_servers: Environment):
    no_servers.unset("GATEWAY_MASTER_KEY")
    await no_servers.refused(store_main.main, "no master key")


async def test_an_unusable_master_key_stops_the_start(no_servers: Environment):
    no_servers.set("GATEWAY_MASTER_KEY", "not base64!")
    await no_servers.refused(store_main.main, "master key unusable")


async def test_a_complete_configuration_gets_as_far_as_mongodb(no_servers: Environment):
    with pytest.raises(Connected):
        await store_main.main()
    assert no_servers.connections == ["mongo"]
    assert no_servers.logging == [("store", "INFO")]


def test_the_process_exits_non_zero_with_one_line_when_misconfigured(environment: Environment):
    environment.unset("GATEWAY_MASTER_KEY")
    status, line = environment.process_refusal("store")
    assert status != 0
    assert line.startswith("store: cannot start: no master key")

"""Starting a service (shared/startup.py): a configuration that must not run stops the process with one
line and a non-zero status; anything else is not swallowed."""

import pytest

from shared import startup
from shared.config import ConfigError


def test_a_config_error_exits_non_zero_with_one_line_naming_the_service():
    async def main() -> None:
        raise ConfigError("no master key: set GATEWAY_MASTER_KEY")

    with pytest.raises(SystemExit) as exit:
        startup.run("worker", main)
    assert exit.value.code == "worker: cannot start: no master key: set GATEWAY_MASTER_KEY"
    assert "\n" not in exit.value.code


def test_a_main_that_returns_ends_normally_having_run():
    ran = []

    async def main() -> None:
        ran.append(True)

    assert startup.run("store", main) is None
    assert ran == [True]


def test_other_failures_are_not_turned_into_a_config_message():
    async def main() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        startup.run("translator", main)

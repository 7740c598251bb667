"""Starting a service (shared/startup.py): a configuration that must not run stops the process with one
line and a non-zero status; anything else is not swallowed. An operator's command (``run_cli``) gets its
exit status, one line on stderr for a failure it expects, and its connection closed whatever happens."""

import pytest

from shared import startup
from shared.config import ConfigError, Settings


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


class Connection:
    """What ``nats.connect`` gives a command, without a server: it only records being closed."""

    def __init__(self, **options: object) -> None:
        self.options = options
        self.closed = False

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    made: list[Connection] = []

    async def connect(**options: object) -> Connection:
        made.append(Connection(**options))
        return made[-1]

    monkeypatch.setattr(startup.nats, "connect", connect)
    return made


SETTINGS = Settings(nats_url="nats://log-1:4222,nats://log-2:4222")


async def test_a_command_gets_its_exit_status_on_the_services_nats_then_closes_it(connections):
    async def work(nc) -> int:
        assert not nc.closed
        return 3

    assert await startup.run_cli(SETTINGS, work) == 3
    (nc,) = connections
    assert nc.options["servers"] == ["nats://log-1:4222", "nats://log-2:4222"]
    assert nc.closed


async def test_an_expected_failure_is_exit_1_with_one_line_on_stderr(connections, capsys):
    async def work(nc) -> int:
        raise LookupError("no such letter")

    status = await startup.run_cli(
        SETTINGS, work, expected=(KeyError, LookupError), explain=lambda error: f"cli: {error}"
    )
    assert status == 1
    assert capsys.readouterr().err == "cli: no such letter\n"
    assert connections[0].closed


async def test_an_unexpected_failure_is_not_swallowed_and_the_connection_is_closed(connections):
    async def work(nc) -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        await startup.run_cli(SETTINGS, work, expected=(LookupError,))
    assert connections[0].closed

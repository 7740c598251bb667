"""One scaled-out gateway for the fault drills: three clustered nats-server nodes with the log
replicated three times, the MongoDB-wire server, the mock LLM and two replicas of every service.

The drills are slow by nature (load, a fault, recovery, an audit). ``./dev test`` runs those not
marked ``slow_drill``, a representative pair; ``./dev test-cluster`` (``CLUSTER_DRILLS=all``) runs every
one. The deselected ones are counted in pytest's summary."""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.cluster import ClusterStack

KEY = "sk-drills"
# Short, so a drill can wait for a stuck response to be ended: its deadline, the sweeper's grace,
# then a sweep (services/store/sweeper.py).
DEADLINE_S = 20
SWEEP_GRACE_S = 5
SWEEP_INTERVAL_S = 5


def gateway_config(mock_url: str) -> dict:
    return {
        "models": [{"name": "m", "api_base": f"{mock_url}/v1", "model": "mock-drill"}],
        "api_keys": [{"key_env": "DRILL_KEY", "project": "drills"}],
    }


ENV = {
    "DRILL_KEY": KEY,
    "REQUEST_DEADLINE_S": str(DEADLINE_S),
    "SWEEP_GRACE_S": str(SWEEP_GRACE_S),
    "SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S),
    "STREAM_REPLICAS": "3",
}

_running: list[ClusterStack] = []


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterStack]:
    run_dir: Path = tmp_path_factory.mktemp("cluster")
    with ClusterStack(
        run_dir / "data", replicas=2, config=gateway_config, env=ENV, log_dir=run_dir / "logs"
    ) as running:
        _running.append(running)
        yield running
        _running.remove(running)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow_drill: a fault drill only `./dev test-cluster` runs")

    # A run stopped with SIGTERM tears the cluster down as Ctrl-C does (see tests/integration).
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CLUSTER_DRILLS") == "all":
        return
    slow = [item for item in items if item.get_closest_marker("slow_drill")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.failed and _running:
        report.sections.append(("cluster logs (tail)", "\n".join(s.logs_tail(15) for s in _running)))
    return report

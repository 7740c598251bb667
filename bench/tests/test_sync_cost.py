"""bench.sync_cost on tiny counts: both policies on one node through the command line, the shipped
policy on a three-node cluster, every ack counted, and the stores removed afterwards. No timing."""

import asyncio
from pathlib import Path

import pytest

from bench import sync_cost


def test_both_policies_on_one_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sync_cost.main(
        ["--replicas", "1", "--rounds", "1", "--messages", "40", "--sequential", "5", "--dir", str(tmp_path)]
    )
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| R")]
    assert {(r[1].strip(), r[2].strip()): int(r[3]) for r in rows} == {
        ("sequential", "default"): 5,
        ("pipelined", "default"): 40,
        ("sequential", "always"): 5,
        ("pipelined", "always"): 40,
    }
    assert list(tmp_path.iterdir()) == []


def test_always_on_a_three_node_cluster(tmp_path: Path) -> None:
    args = sync_cost.parse_args(["--messages", "40", "--sequential", "5", "--dir", str(tmp_path)])
    modes = {mode: sync_cost.Result("always", 3, mode) for mode in ("sequential", "pipelined")}
    asyncio.run(sync_cost.measure(modes, args))
    assert [len(modes[m].latencies_s) for m in ("sequential", "pipelined")] == [5, 40]
    assert list(tmp_path.iterdir()) == []


def test_the_policy_and_the_routes_reach_the_config(tmp_path: Path) -> None:
    ports = [(4222, 6222), (4223, 6223), (4224, 6224)]
    config = sync_cost.server_config(1, ports, tmp_path, sync_cost.POLICIES["always"])
    assert "sync_interval: always" in config
    assert "routes: [nats://127.0.0.1:6222, nats://127.0.0.1:6223, nats://127.0.0.1:6224]" in config
    assert "sync_interval" not in sync_cost.server_config(
        0, ports[:1], tmp_path, sync_cost.POLICIES["default"]
    )

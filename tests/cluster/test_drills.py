"""Fault drills on the scaled-out gateway (conftest): each puts bounded load on every api replica,
strikes one fault, heals it, and holds what clients got against the log and the projection
(``drill.py`` says what the bar is). Each prints its figures: run with ``-s`` to see them."""

import asyncio

import nats
import pytest

from deploy.local.mock_llm import MockLLM

from .conftest import DEADLINE_S, KEY, SWEEP_GRACE_S, SWEEP_INTERVAL_S
from .drill import REPLY, Drill, Report

SERVICES_KILLED = ("api-2", "translator-2", "worker-2", "store-2")


@pytest.fixture
def drill(cluster) -> Drill:
    mock = MockLLM(cluster.mock_url)
    mock.reset()
    mock.script(*[REPLY] * 2000)  # more than a drill's requests, retries included
    mock.close()
    return Drill(cluster, key=KEY, deadline_s=DEADLINE_S, sweep_s=SWEEP_GRACE_S + SWEEP_INTERVAL_S)


def passed(report: Report) -> None:
    print(f"\n{report.figures()}")
    assert report.outcomes and any(o.status == "completed" for o in report.outcomes)
    assert report.problems == [], "\n".join(report.problems[:40])


async def leader_moves(drill: Drill, old: str, notes: dict[str, str], began: float) -> None:
    """Note how long the stream went without a leader other than ``old`` (bounded)."""
    loop = asyncio.get_running_loop()
    for _ in range(300):
        try:
            leader = await drill.stream_leader()
        except (AssertionError, nats.errors.Error):  # no leader yet
            leader = old
        if leader != old:
            notes["new stream leader"] = f"{leader} after {loop.time() - began:.1f}s"
            return
        await asyncio.sleep(0.1)
    notes["new stream leader"] = "none within 30s"


async def test_stream_leader_killed(cluster, drill):
    leader = await drill.stream_leader()
    loop = asyncio.get_running_loop()
    watching: list[asyncio.Future] = []

    def kill() -> None:
        cluster.kill(leader)
        watching.append(
            asyncio.run_coroutine_threadsafe(leader_moves(drill, leader, drill.notes, loop.time()), loop)
        )

    report = await drill.run("stream leader killed", fault=kill, heal=lambda: cluster.restart(leader))
    drill.notes["killed"] = leader
    await asyncio.wrap_future(watching[0])
    report.notes.update(drill.notes)
    passed(report)


@pytest.mark.slow_drill
async def test_non_leader_node_killed(cluster, drill):
    leader = await drill.stream_leader()
    victim = next(name for name in cluster.node_ports if name != leader)
    report = await drill.run(
        "non-leader node killed", fault=lambda: cluster.kill(victim), heal=lambda: cluster.restart(victim)
    )
    report.notes["killed"] = f"{victim} (leader {leader})"
    passed(report)


async def test_one_replica_of_each_service_killed(cluster, drill):
    drill.killed_apis.add("api-2")

    def kill() -> None:
        for name in SERVICES_KILLED:
            cluster.kill(name)

    def heal() -> None:
        for name in SERVICES_KILLED:
            cluster.restart(name)

    passed(await drill.run("one replica of each service killed", fault=kill, heal=heal))


@pytest.mark.slow_drill
async def test_nats_node_restarted(cluster, drill):
    leader = await drill.stream_leader()
    report = await drill.run("stream leader's node restarted", fault=lambda: cluster.restart(leader))
    report.notes["restarted"] = leader
    passed(report)


@pytest.mark.slow_drill
async def test_store_replica_restarted(cluster, drill):
    passed(await drill.run("store replica restarted", fault=lambda: cluster.restart("store-2")))

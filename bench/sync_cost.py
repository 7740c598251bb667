"""What ``jetstream { sync_interval: always }`` costs: JetStream publish throughput and ack latency for
event-sized messages, against the server's default (an fsync every two minutes).

    python -m bench.sync_cost                       # R1 and R3, both policies, about a minute
    python -m bench.sync_cost --replicas 1 --messages 5000 --sequential 500

For each policy and replica count it starts the .venv's ``nats-server`` on loopback (three clustered
servers for R3) with its store on ``--dir`` (default ``.data/``: a real disk, since on tmpfs an fsync
costs nothing), creates a file stream like the gateway's log (``Nats-Msg-Id`` dedup included), and
publishes ``--size``-byte messages two ways: one at a time, each ack awaited before the next
(``sequential``, a lone response's events), and ``--window`` acks in flight (``pipelined``, what a
busy worker does). It prints one table; docs/operations.md quotes it.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.js.api import ClusterInfo, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from bench.stats import percentile
from deploy.local.processes import Process, free_port, stop_all, tcp_open, wait_until

HOST = "127.0.0.1"
STREAM = "SYNCBENCH"
POLICIES = {"default": "", "always": "sync_interval: always"}
_START_TIMEOUT_S = 30.0
_ACK_TIMEOUT_S = 30.0


@dataclass
class Result:
    """One (policy, replicas, mode) over every round: ack latencies pooled, one rate per round."""

    policy: str
    replicas: int
    mode: str
    latencies_s: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The median round's messages per second: a round that shared the CPUs with a burst of
        something else does not move it."""
        return statistics.median(self.rates) if self.rates else 0.0


def server_config(index: int, ports: list[tuple[int, int]], store_dir: Path, sync: str) -> str:
    """One server's config; with several ports, a cluster routed to every member."""
    client_port, cluster_port = ports[index]
    lines = [
        f"server_name: n{index}",
        f"listen: {HOST}:{client_port}",
        f'jetstream {{ store_dir: "{store_dir.resolve() / f"n{index}"}"\n  {sync} }}',
    ]
    if len(ports) > 1:
        routes = ", ".join(f"nats://{HOST}:{cp}" for _, cp in ports)
        lines.append(f"cluster {{ name: syncbench, listen: {HOST}:{cluster_port}, routes: [{routes}] }}")
    return "\n".join(lines) + "\n"


def start_servers(replicas: int, sync: str, root: Path, servers: list[Process]) -> tuple[list[Process], str]:
    """Started servers go into ``servers`` as they start, so the caller stops them even on failure."""
    ports = [(free_port(), free_port()) for _ in range(replicas)]
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or "nats-server"
    for index in range(replicas):
        conf = root / f"n{index}.conf"
        conf.write_text(server_config(index, ports, root, sync))
        process = Process(
            f"nats-{index}", [binary, "-c", str(conf)], dict(os.environ), root / f"n{index}.log"
        )
        servers.append(process.start())
    for process, (client_port, _) in zip(servers, ports, strict=True):
        wait_until(tcp_open(HOST, client_port), f"{process.name} to listen", _START_TIMEOUT_S, servers)
    return servers, ",".join(f"nats://{HOST}:{cp}" for cp, _ in ports)


async def create_stream(js: JetStreamContext, replicas: int) -> None:
    """A clustered JetStream answers only once its meta group has a leader: retry until then."""
    config = StreamConfig(
        name=STREAM,
        subjects=["syncbench.>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=120.0,
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            await js.add_stream(config)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    # A replicated stream takes writes only once its own group elected a leader.
    while replicas > 1 and not ((await js.stream_info(STREAM)).cluster or ClusterInfo()).leader:
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {STREAM} has no leader after {_START_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.1)


async def sequential(js: JetStreamContext, result: Result, count: int, payload: bytes) -> None:
    start = time.perf_counter()
    for n in range(count):
        sent = time.perf_counter()
        await js.publish(f"syncbench.{n}", payload, timeout=_ACK_TIMEOUT_S, headers=_msg_id(result, n))
        result.latencies_s.append(time.perf_counter() - sent)
    result.rates.append(count / (time.perf_counter() - start))


async def pipelined(js: JetStreamContext, result: Result, count: int, payload: bytes) -> None:
    """At most ``publish_async_max_pending`` acks outstanding; each ack timed from its send."""

    def timer(sent: float):
        return lambda _: result.latencies_s.append(time.perf_counter() - sent)

    start = time.perf_counter()
    futures = []
    for n in range(count):
        sent = time.perf_counter()
        future = await js.publish_async(
            f"syncbench.{n}", payload, wait_stall=_ACK_TIMEOUT_S, headers=_msg_id(result, n)
        )
        future.add_done_callback(timer(sent))
        futures.append(future)
    for future in asyncio.as_completed(futures, timeout=_ACK_TIMEOUT_S):
        await future  # raises if the server refused one
    result.rates.append(count / (time.perf_counter() - start))


def _msg_id(result: Result, n: int) -> dict[str, str]:
    # As every event the gateway logs: a Nats-Msg-Id, so the server's dedup lookup is part of the cost.
    return {"Nats-Msg-Id": f"{result.mode}-{n}"}


async def measure(results: dict[str, Result], args: argparse.Namespace) -> None:
    """One round for one (policy, replicas): fresh servers and store, both modes."""
    policy, replicas = results["sequential"].policy, results["sequential"].replicas
    root = Path(tempfile.mkdtemp(prefix=f"sync-{policy}-r{replicas}-", dir=args.dir))
    servers: list[Process] = []
    try:
        servers, url = start_servers(replicas, POLICIES[policy], root, servers)
        nc = await nats.connect(url.split(","), connect_timeout=5)
        try:
            js = nc.jetstream(publish_async_max_pending=args.window)
            await create_stream(js, replicas)
            payload = os.urandom(args.size // 2).hex().encode()[: args.size]
            await sequential(js, results["sequential"], args.sequential, payload)
            await pipelined(js, results["pipelined"], args.messages, payload)
        finally:
            await nc.close()
    except Exception:
        for server in servers:
            print(f"--- {server.name}\n{server.tail()}", file=sys.stderr)
        raise
    finally:
        stop_all(servers)
        shutil.rmtree(root, ignore_errors=True)


def filesystem_of(path: Path) -> str:
    """The mount type holding ``path`` (ext4, xfs, tmpfs...): it decides what an fsync costs."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if resolved.startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def table(results: list[Result]) -> str:
    baseline = {(r.replicas, r.mode): r.rate for r in results if r.policy == "default"}
    head = "| replicas | mode | sync | acks | msg/s (median round) | vs default | ack p50 ms | ack p99 ms |"
    rows = [head, "| " + " | ".join("---" for _ in head.strip("|").split("|")) + " |"]
    for r in results:
        base = baseline.get((r.replicas, r.mode))
        ratio = f"{r.rate / base:.2f}x" if base else "-"
        p50, p99 = (percentile(r.latencies_s, q) or 0.0 for q in (50, 99))
        rows.append(
            f"| R{r.replicas} | {r.mode} | {r.policy} | {len(r.latencies_s)} | {r.rate:,.0f} | {ratio} "
            f"| {p50 * 1000:.2f} | {p99 * 1000:.2f} |"
        )
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3], choices=[1, 3])
    parser.add_argument("--messages", type=int, default=20_000, help="pipelined messages per run")
    parser.add_argument("--sequential", type=int, default=1_000, help="one-at-a-time messages per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting, policies alternating")
    parser.add_argument("--size", type=int, default=500, help="payload bytes (our events are ~500)")
    parser.add_argument("--window", type=int, default=256, help="acks in flight when pipelined")
    parser.add_argument("--dir", type=Path, default=Path(".data"), help="where the stores go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    print(
        f"nats-server stores under {args.dir.resolve()} ({filesystem_of(args.dir)}), {os.cpu_count()} CPUs; "
        f"{args.size} B messages, {args.sequential} sequential, {args.messages} pipelined "
        f"(window {args.window}), {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = {
        (replicas, policy): {mode: Result(policy, replicas, mode) for mode in ("sequential", "pipelined")}
        for replicas in args.replicas
        for policy in POLICIES
    }
    for round_ in range(1, args.rounds + 1):
        # Policies alternate within a round, so a slow spell of a shared machine hits both alike.
        for (replicas, policy), modes in results.items():
            print(f"round {round_}/{args.rounds}: R{replicas} {policy}", flush=True)
            asyncio.run(measure(modes, args))
    print(table([r for modes in results.values() for r in modes.values()]))


if __name__ == "__main__":
    main()

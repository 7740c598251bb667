"""The gateway scaled out on one machine: three nats-server processes clustered on loopback (routes,
JetStream, the log replicated three times), the MongoDB-wire server, the mock LLM, and several
replicas of every service. The fault drills (tests/cluster) kill and restart its parts.

Each replica's ``NATS_URL`` lists every node, starting with a different one per replica, so the
services spread over the nodes and a client whose node dies reconnects to another.
"""

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.local.processes import Process, StackError, free_port, http_ok
from deploy.local.stack import HOST, SERVICES, ConfigSource, Stack, local_config, nats_env

NODES = 3
CLUSTER_NAME = "gateway"


@dataclass(frozen=True)
class NodePorts:
    client: int
    cluster: int
    monitor: int

    @classmethod
    def free(cls) -> "NodePorts":
        return cls(client=free_port(), cluster=free_port(), monitor=free_port())


def node_config(name: str, ports: NodePorts, peers: list[NodePorts], store_dir: Path) -> str:
    """A nats-server config file for one node of the cluster; ``peers`` are the other nodes."""
    routes = ", ".join(f"nats-route://{HOST}:{p.cluster}" for p in peers)
    return f"""server_name: {name}
listen: {HOST}:{ports.client}
http: {HOST}:{ports.monitor}
jetstream {{
  store_dir: "{store_dir}"
}}
cluster {{
  name: {CLUSTER_NAME}
  listen: {HOST}:{ports.cluster}
  routes: [{routes}]
}}
"""


def node_process(name: str, config_path: Path, ports: NodePorts, log_path: Path | None) -> Process:
    """One node, ready once its health endpoint says JetStream is current (which needs a quorum: start
    every node before waiting for any)."""
    argv = [str(Path(sys.executable).parent / "nats-server"), "-c", str(config_path)]
    ready = http_ok(f"http://{HOST}:{ports.monitor}/healthz")
    return Process(name, argv, nats_env({}), log_path, url=f"nats://{HOST}:{ports.client}", ready=ready)


class ClusterStack(Stack):
    """A ``Stack`` whose NATS is a cluster of ``nodes`` and which runs ``replicas`` of each service.
    Nodes are the children ``nats-1`` ... ``nats-<nodes>``, which are also their server names (what
    a stream's ``cluster.leader`` names); the services' second replicas are ``store-2``, ``api-2``
    and so on (``Stack.add_replica``)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        replicas: int = 2,
        nodes: int = NODES,
        config: ConfigSource = local_config,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        ready_timeout_s: float = 90.0,
    ) -> None:
        self.node_ports = {f"nats-{n}": NodePorts.free() for n in range(1, nodes + 1)}
        urls = ",".join(f"nats://{HOST}:{p.client}" for p in self.node_ports.values())
        env = {"STREAM_REPLICAS": str(min(nodes, 3)), **(env or {})}
        super().__init__(
            data_dir, config=config, nats_url=urls, env=env, log_dir=log_dir, ready_timeout_s=ready_timeout_s
        )
        self.replicas = replicas

    @property
    def node_urls(self) -> list[str]:
        return [f"nats://{HOST}:{p.client}" for p in self.node_ports.values()]

    def start(self) -> None:
        super().start()
        try:
            for _ in range(self.replicas - 1):
                for service in SERVICES:
                    self.add_replica(service)
        except StackError as error:
            raise StackError(f"{error}\n{self.logs_tail()}") from None

    def nats_url_for(self, name: str) -> str:
        """Every node, the first one rotating with the replica's number, so replicas spread out."""
        number = int(name.rsplit("-", 1)[1]) if "-" in name else 1
        urls = self.node_urls
        shift = (number - 1 + SERVICES.index(name.split("-")[0])) % len(urls)
        return ",".join(urls[shift:] + urls[:shift])

    def _start_infra(self) -> None:
        nodes = []
        for name, ports in self.node_ports.items():
            store = self.data_dir / name
            config_path = self.data_dir / f"{name}.conf"
            peers = [p for other, p in self.node_ports.items() if other != name]
            config_path.write_text(node_config(name, ports, peers, store))
            nodes.append(self._add(node_process(name, config_path, ports, self._log(name, True))))
        for node in nodes:
            self._wait(node)
        super()._start_infra()

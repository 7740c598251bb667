"""The whole gateway on one machine: NATS JetStream, a MongoDB-wire server, the mock LLM and every
service, each a child process. ``python -m deploy.local.stack`` runs it in the foreground; tests and
the bench use ``with Stack(...) as stack:``.

NATS and MongoDB are started only when ``NATS_URL`` / ``MONGO_URI`` are not given; the mock LLM only
when no ``mock_url`` is given.
"""

import argparse
import base64
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

import yaml
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from deploy.local.processes import (
    Process,
    StackError,
    free_port,
    http_ok,
    port_is_free,
    stop_all,
    tcp_open,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CONFIG = Path(__file__).with_name("gateway.yaml")
# The services in start order: consumers before the api that publishes to them.
SERVICES = ("store", "translator", "worker", "api")
INFRA = ("nats", "mongo", "mock")
HOST = "127.0.0.1"
_LOCAL_MOCK_BASE = "http://127.0.0.1:9901"
_INFRA_TIMEOUT_S = 30.0
_BIN = Path(sys.executable).parent

# Either a ready YAML file, or a function of the mock LLM's URL returning the config as a dict.
ConfigSource = Path | Callable[[str], dict]


def local_config(mock_url: str) -> dict:
    """``deploy/local/gateway.yaml``, with its models re-pointed at the mock actually running."""
    return repoint(yaml.safe_load(LOCAL_CONFIG.read_text()), _LOCAL_MOCK_BASE, mock_url)


def repoint(config: dict, old_base: str, new_base: str) -> dict:
    models = [
        {**m, "api_base": new_base + m["api_base"].removeprefix(old_base)}
        if m["api_base"].startswith(old_base)
        else m
        for m in config.get("models", [])
    ]
    search = (config.get("tools") or {}).get("web_search") or {}
    if str(search.get("url", "")).startswith(old_base):  # the mock LLM is the local search provider too
        search = {**search, "url": new_base + search["url"].removeprefix(old_base)}
        return {**config, "models": models, "tools": {**config["tools"], "web_search": search}}
    return {**config, "models": models}


@dataclass(frozen=True)
class Ports:
    api: int
    nats: int
    mongo: int
    mock: int

    @classmethod
    def defaults(cls, api: int = 8080) -> "Ports":
        """The usual ports, or free ones where taken; the api's port is what clients dial, so it is fixed."""
        if not port_is_free(api):
            raise StackError(f"port {api} is in use: stop what listens there or set API_PORT")
        return cls(api=api, nats=free_port(4222), mongo=free_port(27017), mock=free_port(9901))

    @classmethod
    def free(cls) -> "Ports":
        return cls(api=free_port(), nats=free_port(), mongo=free_port(), mock=free_port())


def python_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment plus ``extra``, for a Python child that imports from the repository."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **extra, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def nats_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` for a nats-server child, with a tighter Go collector and one scheduler thread unless
    ``base`` sets its own.

    GOGC=100, Go's default, lets the heap grow to twice what is live before collecting: a third of
    NATS's memory at a thousand open streams. A quarter of that headroom cost no CPU the bench could
    tell apart (bench/README.md, seventh pass); the deployments set the same.

    GOMAXPROCS=1: here NATS shares the machine with the services, and with a scheduler thread per
    core each message it passes on woke a second thread. One thread halved its context switches and
    took a quarter off its CPU a response (bench/README.md, ninth pass). The deployments give NATS
    machines of its own and leave Go to size it."""
    return {"GOGC": "25", "GOMAXPROCS": "1", **base}


def nats_process(port: int, store_dir: Path, log_path: Path | None) -> Process:
    argv = [_binary("nats-server", "NATS_URL"), "-js", "-sd", str(store_dir), "-a", HOST, "-p", str(port)]
    return Process("nats", argv, nats_env(os.environ), log_path, ready=tcp_open(HOST, port))


def mongo_process(port: int, storage: Path, log_path: Path | None) -> Process:
    argv = [_binary("secantusd-py", "MONGO_URI"), "--host", HOST, "--port", str(port)]
    # Standalone: the services use neither change streams nor transactions, and a stand-in that
    # advertises a replica set keeps an oplog entry for every document it changes, a sixth of its CPU
    # per write (bench/README.md, "The stand-in: no oplog, and one insert...").
    argv += ["--standalone", "--storage-path", str(storage), "--log-level", "WARNING"]
    ready = partial(mongo_answers, f"mongodb://{HOST}:{port}")
    return Process("mongo", argv, dict(os.environ), log_path, ready=ready)


def mock_process(port: int, log_path: Path | None) -> Process:
    argv = [sys.executable, "-m", "deploy.local.mock_llm", "--host", HOST, "--port", str(port)]
    url = f"http://{HOST}:{port}"
    return Process("mock", argv, python_env({}), log_path, url=url, ready=http_ok(f"{url}/v1/models"))


def is_infra(name: str) -> bool:
    """Whether the child ``name`` (``nats``, ``nats-2``, ``mongo``...) is infrastructure, not a service."""
    return name.split("-")[0] in INFRA


def mongo_answers(uri: str) -> bool:
    try:
        with MongoClient(uri, serverSelectionTimeoutMS=1000) as client:
            client.admin.command("ping")
    except PyMongoError:
        return False
    return True


def _binary(name: str, instead: str) -> str:
    path = _BIN / name
    if not path.exists():
        raise StackError(f"{path} is missing: install the dev extra (./dev does) or set {instead}")
    return str(path)


class Stack:
    """Start with ``start()`` or ``with``; every child runs in its own process group.

    ``log_dir`` None lets the services and the mock write to this terminal; NATS and MongoDB always
    log to ``<data_dir>/logs``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Ports | None = None,
        config: ConfigSource = local_config,
        nats_url: str | None = None,
        mongo_uri: str | None = None,
        mock_url: str | None = None,
        mongo_db: str = "responses_gateway",
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.ports = ports or Ports.free()
        self.config = config
        self.mongo_db = mongo_db
        self.extra_env = dict(env or {})
        self.log_dir = log_dir
        self.ready_timeout_s = ready_timeout_s
        self._external = {"nats": nats_url, "mongo": mongo_uri, "mock": mock_url}
        self.processes: dict[str, Process] = {}
        self.config_path: Path | None = None

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports.api}"

    @property
    def nats_url(self) -> str:
        return self._external["nats"] or f"nats://{HOST}:{self.ports.nats}"

    @property
    def mongo_uri(self) -> str:
        return self._external["mongo"] or f"mongodb://{HOST}:{self.ports.mongo}"

    @property
    def mock_url(self) -> str:
        return self._external["mock"] or f"http://{HOST}:{self.ports.mock}"

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._ensure_master_key()
        try:
            self._start_infra()
            self.config_path = self._write_config()
            for service in SERVICES:
                self._add(self._service(service, service))
            self.wait_ready()
        except StackError as error:
            raise StackError(f"{error}\n{self.logs_tail()}") from None

    def stop(self) -> None:
        """Services first, so they drain while NATS and MongoDB are still there."""
        children = list(reversed(self.processes.values()))
        stop_all([p for p in children if not is_infra(p.name)])
        stop_all([p for p in children if is_infra(p.name)])

    def process(self, name: str) -> Process:
        return self.processes[name]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """``kill -9`` one child (or send ``sig``) without restarting it."""
        self.processes[name].kill(sig)

    def restart(self, name: str) -> Process:
        """Stop (or reap) one child and start it again with the same arguments, ports and data."""
        return self._wait(self.processes[name].restart())

    def add_replica(self, service: str) -> Process:
        """One more replica of ``service``; an api replica gets its own port, in ``Process.url``."""
        n = 1 + sum(1 for name in self.processes if name == service or name.startswith(f"{service}-"))
        return self._wait(self._add(self._service(f"{service}-{n}", service)))

    def wait_ready(self, timeout: float | None = None) -> None:
        """Until every api replica's ``/health/ready`` answers 200, i.e. every service is up."""
        for process in self.processes.values():
            if process.name.startswith("api") and process.url:
                check = http_ok(f"{process.url}/health/ready")
                what = f"{process.name} {process.url}/health/ready"
                wait_until(check, what, timeout or self.ready_timeout_s, list(self.processes.values()))

    def watch(self, poll_s: float = 0.5) -> Process:
        """Block until some child exits; return it."""
        while True:
            for process in self.processes.values():
                if not process.alive:
                    return process
            time.sleep(poll_s)

    def logs_tail(self, lines: int = 30) -> str:
        tails = [(p, p.tail(lines)) for p in self.processes.values()]
        return "\n".join(f"----- {p.name} ({p.log_path}) -----\n{tail}" for p, tail in tails if tail)

    def _start_infra(self) -> None:
        if not self._external["nats"]:
            nats = nats_process(self.ports.nats, self.data_dir / "nats", self._log("nats", True))
            self._wait(self._add(nats))
        if not self._external["mongo"]:
            mongo = mongo_process(self.ports.mongo, self.data_dir / "mongo", self._log("mongo", True))
            self._wait(self._add(mongo))
        if not self._external["mock"]:
            self._wait(self._add(mock_process(self.ports.mock, self._log("mock"))))

    def _ensure_master_key(self) -> None:
        """Services refuse to start without a master key (it seals what the log holds); a local stack
        makes one of its own, kept beside its data so the log stays readable across restarts."""
        given = {**os.environ, **self.extra_env}
        if given.get("GATEWAY_MASTER_KEY") or given.get("GATEWAY_MASTER_KEY_FILE"):
            return
        path = self.data_dir / "master.key"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(base64.b64encode(os.urandom(32)).decode())
        self.extra_env["GATEWAY_MASTER_KEY_FILE"] = str(path)

    def _wait(self, process: Process) -> Process:
        return process.wait_ready(_INFRA_TIMEOUT_S if is_infra(process.name) else self.ready_timeout_s)

    def _write_config(self) -> Path:
        if isinstance(self.config, Path):
            return self.config.resolve()
        path = self.data_dir / "gateway.yaml"
        path.write_text(yaml.safe_dump(self.config(self.mock_url), sort_keys=False))
        return path

    def _service(self, name: str, service: str) -> Process:
        env = python_env(
            {
                **self.extra_env,
                "NATS_URL": self.nats_url_for(name),
                "MONGO_URI": self.mongo_uri,
                "MONGO_DB": self.mongo_db,
                "GATEWAY_CONFIG": str(self.config_path),
            }
        )
        argv = [sys.executable, "-m", f"services.{service}"]
        if service != "api":
            return Process(name, argv, env, self._log(name))
        # Replicas of the api listen on ports of their own.
        port = self.ports.api if name == "api" else free_port()
        env |= {"API_HOST": HOST, "API_PORT": str(port)}
        url = f"http://{HOST}:{port}"
        return Process(name, argv, env, self._log(name), url=url, ready=http_ok(f"{url}/health/ready"))

    def nats_url_for(self, name: str) -> str:
        """The ``NATS_URL`` the child ``name`` (a service replica) is given."""
        return self.nats_url

    def _log(self, name: str, infra: bool = False) -> Path | None:
        log_dir = self.log_dir or (self.data_dir / "logs" if infra else None)
        return log_dir / f"{name}.log" if log_dir else None

    def _add(self, process: Process) -> Process:
        self.processes[process.name] = process
        return process.start()


def _banner(stack: Stack) -> str:
    config = yaml.safe_load(Path(stack.config_path or LOCAL_CONFIG).read_text())
    models = ", ".join(m["name"] for m in config.get("models", []))
    first = config["models"][0]["name"] if config.get("models") else "MODEL"
    return f"""
responses-gateway is up
  API        {stack.api_url}/v1   (health: {stack.api_url}/health/ready)
  models     {models}   (config: {stack.config_path})
  mock LLM   {stack.mock_url}
  NATS       {stack.nats_url}
  MongoDB    {stack.mongo_uri}   (database {stack.mongo_db})
  data       {stack.data_dir}

Try it:
  from openai import OpenAI
  client = OpenAI(base_url="{stack.api_url}/v1", api_key="local")
  print(client.responses.create(model="{first}", input="hi").output_text)

Ctrl-C stops everything.
"""


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the whole gateway locally, in the foreground.")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data", help="default: .data")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", "8080")))
    args = parser.parse_args()
    env = os.environ
    config_env = env.get("GATEWAY_CONFIG")
    # Explicitly for SIGINT too: a shell starting us in the background would have left it ignored.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stack: Stack | None = None
    try:
        stack = Stack(
            args.data_dir,
            ports=Ports.defaults(api=args.api_port),
            config=Path(config_env) if config_env else local_config,
            nats_url=env.get("NATS_URL"),
            mongo_uri=env.get("MONGO_URI"),
            mongo_db=env.get("MONGO_DB", "responses_gateway"),
        )
        stack.start()
        print(_banner(stack), flush=True)
        dead = stack.watch()
        print(f"\n{dead.name} exited with code {dead.returncode}: stopping the stack", file=sys.stderr)
        return 1
    except StackError as error:
        print(f"stack failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr)
        return 0
    finally:
        # A second Ctrl-C must not leave children behind half-stopped; stop() escalates to SIGKILL itself.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            stack.stop()
            print("stack stopped", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

"""Real servers for the store's tests: a MongoDB-wire server (secantusd-py) and a JetStream
nats-server, each started on a free port from the virtualenv's binaries."""

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from faststream.nats import NatsBroker
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.store import handlers
from shared import bus
from shared.config import Settings
from shared.readmodel import repository

BIN = Path(sys.executable).parent
# How long a server may take to come up before the fixture gives up (not a test assertion).
STARTUP_LIMIT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [BIN / "secantusd-py", "--port", str(port), "--storage-path", ":memory:", "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}"

    def pings() -> bool:
        try:
            with MongoClient(uri, serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
            return True
        except PyMongoError:
            return False

    try:
        _wait_until(pings, proc, "secantusd-py")
        yield uri
    finally:
        _stop(proc)


@pytest.fixture
async def db(mongo_uri: str) -> AsyncIterator[AsyncDatabase]:
    client = AsyncMongoClient(mongo_uri)
    database = client[f"store_{uuid.uuid4().hex[:12]}"]
    try:
        yield database
    finally:
        await client.drop_database(database.name)
        await client.close()


@pytest.fixture
async def collection(db: AsyncDatabase) -> AsyncCollection:
    responses = repository.responses(db)
    await repository.ensure_indexes(responses)
    return responses


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    store_dir = tmp_path_factory.mktemp("jetstream")
    proc = subprocess.Popen(
        [BIN / "nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    try:
        _wait_until(accepts, proc, "nats-server")
        yield f"nats://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
async def start_store(nats_url: str) -> AsyncIterator[Callable[[AsyncCollection], Awaitable[NatsBroker]]]:
    brokers: list[NatsBroker] = []

    async def start(collection: AsyncCollection) -> NatsBroker:
        broker = bus.new_broker(Settings(nats_url=nats_url), "store")
        brokers.append(broker)
        js = await bus.connect(broker)
        await handlers.register(broker, js=js, collection=collection, ttl_s=3600, concurrency=4)
        await broker.start()
        return broker

    yield start
    for broker in brokers:
        await broker.stop()

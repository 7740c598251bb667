"""Fail-closed auth and no secret leaks, against real processes.

The api refuses to start on a key it cannot read or an auth mode it does not know. A gateway with
``auth: keys`` and no key refuses everything, and stays closed when its last managed key is revoked.
A stack whose NATS demands mutual TLS and a password (given in a comma-separated ``NATS_URL``), logging
at DEBUG, is then driven through successes and backend errors that echo the backend key; afterwards no
client key, backend key, key hash, NATS password, metrics token, master key or deleted response's text
is in any event of JetStream, any MongoDB document or any log line."""

import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import nkeys
import openai
import pytest
import yaml
from nats.errors import NoServersError
from nats.js.errors import NotFoundError
from pymongo import MongoClient

from deploy.local.processes import Process, free_port, http_ok, tcp_open
from deploy.local.stack import HOST, Stack, python_env
from services.api import keys
from shared import bus, subjects
from shared.config import Settings
from tests import certs

NATS_USER, NATS_PASSWORD = "gateway", "nats-pw-" + secrets.token_hex(8)
CLIENT_KEY = "sk-sec-client-" + secrets.token_hex(8)
ADMIN_KEY = "sk-sec-admin-" + secrets.token_hex(8)
WRONG_KEY = "sk-sec-wrong-" + secrets.token_hex(8)
# No known key shape: only the worker's knowledge of its own key can scrub it from an echo.
BACKEND_KEY = "upstream-" + secrets.token_hex(10)
METRICS_TOKEN = "metrics-" + secrets.token_hex(8)
# Said in a response that is then deleted: its content is erased everywhere (crypto-shredding).
DELETED_SECRET = "deleted-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Tls:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    folder = tmp_path_factory.mktemp("tls")
    ca = certs.Authority.new(folder)
    server = ca.sign(folder / "server", "nats")
    client = ca.sign(folder / "client", "gateway")
    return Tls(ca.pem, *server, *client)


@pytest.fixture(scope="module")
def nkey_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nkey") / "user.nk"
    path.write_bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER))
    return path


@pytest.fixture(scope="module")
def security_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's data; every process it starts logs into ``logs/``, which the leak test searches."""
    return tmp_path_factory.mktemp("security")


@pytest.fixture(scope="module")
def secure_nats(security_dir: Path, tls: Tls, nkey_seed: Path) -> Iterator[str]:
    """nats-server demanding a client certificate, and a password or an nkey; yields the URL
    without credentials."""
    folder = security_dir / "nats"
    folder.mkdir()
    port = free_port()
    nkey_user = nkeys.from_seed(nkey_seed.read_bytes()).public_key.decode()
    conf = folder / "nats.conf"
    conf.write_text(
        f"""
listen: "{HOST}:{port}"
jetstream {{ store_dir: "{folder / "js"}" }}
tls {{ cert_file: "{tls.server_cert}", key_file: "{tls.server_key}", ca_file: "{tls.ca}", verify: true }}
authorization {{
  users: [ {{ user: "{NATS_USER}", password: "{NATS_PASSWORD}" }}, {{ nkey: "{nkey_user}" }} ]
}}
"""
    )
    argv = [str(Path(sys.executable).parent / "nats-server"), "-c", str(conf)]
    process = Process(
        "nats", argv, dict(os.environ), security_dir / "logs" / "nats.log", ready=tcp_open(HOST, port)
    )
    process.start().wait_ready(30.0)
    try:
        yield f"nats://{HOST}:{port}"
    finally:
        process.stop()


def _with_password(url: str) -> str:
    return url.replace("nats://", f"nats://{NATS_USER}:{NATS_PASSWORD}@")


def _tls_settings(tls: Tls) -> dict[str, Path]:
    return {"nats_tls_ca": tls.ca, "nats_tls_cert": tls.client_cert, "nats_tls_key": tls.client_key}


async def _connects(settings: Settings) -> bool:
    try:
        nc = await nats.connect(**bus.connect_options(settings), allow_reconnect=False, connect_timeout=5)
    except (NoServersError, OSError, nats.errors.Error):
        return False
    await nc.close()
    return True


async def test_nats_takes_a_password_in_the_url_or_an_nkey_over_mutual_tls(secure_nats, tls, nkey_seed):
    with_tls = _tls_settings(tls)
    assert await _connects(Settings(nats_url=_with_password(secure_nats), **with_tls))
    assert await _connects(Settings(nats_url=secure_nats, nats_nkey_seed=nkey_seed, **with_tls))
    # Each missing piece is refused: the password, the client certificate, the CA.
    assert not await _connects(Settings(nats_url=secure_nats, **with_tls))
    wrong = secure_nats.replace("nats://", f"nats://{NATS_USER}:wrong@")
    assert not await _connects(Settings(nats_url=wrong, **with_tls))
    assert not await _connects(Settings(nats_url=_with_password(secure_nats), nats_tls_ca=tls.ca))
    assert not await _connects(Settings(nats_url=_with_password(secure_nats)))


def _start_api(config: dict, env: dict[str, str], folder: Path) -> subprocess.CompletedProcess:
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    environ = python_env({"GATEWAY_CONFIG": str(path), "API_PORT": str(free_port()), **env})
    return subprocess.run(
        [sys.executable, "-m", "services.api"], env=environ, capture_output=True, text=True, timeout=60
    )


MODELS = [{"name": "m", "api_base": "http://127.0.0.1:9/v1", "model": "m"}]


def test_an_unset_key_variable_stops_the_api_with_one_line(tmp_path):
    config = {"models": MODELS, "api_keys": [{"key_env": "SEC_SET_KEY"}, {"key_env": "SEC_UNSET_KEY"}]}
    env = {"SEC_SET_KEY": "sk-set"}
    done = _start_api(config, env, tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "api: cannot start: api_keys name environment variables that are unset or empty: SEC_UNSET_KEY"
    )
    assert "Traceback" not in done.stderr


def test_an_unknown_auth_mode_stops_the_api_with_one_line(tmp_path):
    done = _start_api({"models": MODELS, "auth": "none"}, {}, tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("api: cannot start: ") and last.endswith("auth: Input should be 'keys' or 'open'")
    assert "Traceback" not in done.stderr


def _secure_config(mock_url: str) -> dict:
    return {
        "auth": "keys",
        "models": [
            {"name": "m1", "api_base": f"{mock_url}/v1", "model": "mock-1", "api_key_env": "SEC_BACKEND_KEY"}
        ],
        "api_keys": [
            {"key_env": "SEC_CLIENT_KEY", "project": "sec"},
            {"key_env": "SEC_ADMIN_KEY", "project": "ops", "admin": True},
        ],
    }


@pytest.fixture(scope="module")
def secure_stack(security_dir: Path, mock_url: str, secure_nats: str, tls: Tls) -> Iterator[Stack]:
    # The first server listed is not there: every service must fall through to the second.
    servers = f"{_with_password(f'nats://{HOST}:{free_port()}')},{_with_password(secure_nats)}"
    env = {
        "SEC_CLIENT_KEY": CLIENT_KEY,
        "SEC_ADMIN_KEY": ADMIN_KEY,
        "SEC_BACKEND_KEY": BACKEND_KEY,
        "METRICS_TOKEN": METRICS_TOKEN,
        "LOG_LEVEL": "DEBUG",
        "KEY_CACHE_S": "1",
        "NATS_TLS_CA": str(tls.ca),
        "NATS_TLS_CERT": str(tls.client_cert),
        "NATS_TLS_KEY": str(tls.client_key),
    }
    with Stack(
        security_dir / "data",
        config=_secure_config,
        nats_url=servers,
        mock_url=mock_url,
        env=env,
        log_dir=security_dir / "logs",
    ) as running:
        yield running


def _sdk(stack: Stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=key, max_retries=0)


def test_metrics_need_the_token(secure_stack):
    url = f"{secure_stack.api_url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {CLIENT_KEY}"}).status_code == 401
    reply = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert reply.status_code == 200 and "gateway_http_requests_total" in reply.text


def _keys_cli(capsys: pytest.CaptureFixture, *args: str) -> dict:
    """``python -m services.api.keys``, run in this process (MONGO_URI and MONGO_DB set by the caller)."""
    assert keys.main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def _status(url: str, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}/v1/models", headers=headers, timeout=30).status_code


def _refused_within_cache(url: str, key: str) -> bool:
    """Whether ``key`` is refused within a few cache lifetimes (KEY_CACHE_S=1): a bounded wait."""
    for _ in range(40):
        if _status(url, key) == 401:
            return True
        time.sleep(0.1)
    return False


def test_a_gateway_without_keys_stays_closed_when_its_last_managed_key_is_revoked(
    secure_stack, tmp_path, monkeypatch, capsys
):
    """An api of its own, on the stack's NATS and MongoDB, whose config names no key at all."""
    mongo_db = "no_static_keys"
    monkeypatch.setenv("MONGO_URI", secure_stack.mongo_uri)
    monkeypatch.setenv("MONGO_DB", mongo_db)
    config = tmp_path / "gateway.yaml"
    models = _secure_config(secure_stack.mock_url)["models"]
    config.write_text(yaml.safe_dump({"auth": "keys", "models": models}))
    port = free_port()
    env = python_env(
        {
            **secure_stack.extra_env,
            "NATS_URL": secure_stack.nats_url,
            "MONGO_URI": secure_stack.mongo_uri,
            "MONGO_DB": mongo_db,
            "GATEWAY_CONFIG": str(config),
            "API_HOST": HOST,
            "API_PORT": str(port),
        }
    )
    url = f"http://{HOST}:{port}"
    argv = [sys.executable, "-m", "services.api"]
    log = (secure_stack.log_dir or tmp_path) / "api-no-keys.log"  # searched by the leak test below
    api = Process("api-no-keys", argv, env, log, url=url, ready=http_ok(f"{url}/health/ready"))
    api.start()
    try:
        api.wait_ready(60.0)
        assert _status(url, None) == _status(url, WRONG_KEY) == 401

        created = _keys_cli(capsys, "create", "--name", "only", "--project", "solo")
        assert _status(url, created["key"]) == 200
        _keys_cli(capsys, "revoke", created["id"])
        assert _refused_within_cache(url, created["key"])
        assert _status(url, None) == _status(url, WRONG_KEY) == 401
    finally:
        api.stop()


def _exercise(stack: Stack, mock_llm) -> str:
    """Successes, refusals and backend errors that echo the backend key; returns the managed key made."""
    refusals = [
        {
            "status": 401,
            "error": {"message": f"Incorrect API key provided: {BACKEND_KEY}.", "code": "invalid_api_key"},
        },
        {"status": 500, "error": {"message": f"upstream said: Authorization: Bearer {BACKEND_KEY}"}},
        {"status": 404, "error": f"model not found (key {BACKEND_KEY})"},  # Ollama's shape
    ]
    with _sdk(stack, CLIENT_KEY) as client:
        assert client.responses.create(model="m1", input="hello").status == "completed"
        forgotten = client.responses.create(model="m1", input=f"forget {DELETED_SECRET}")
        assert DELETED_SECRET in forgotten.output_text
        client.responses.delete(forgotten.id)
        assert [e.type for e in client.responses.create(model="m1", input="hi", stream=True)][-1] == (
            "response.completed"
        )
        for refusal in refusals:
            mock_llm.script(refusal)
            failed = client.responses.create(model="m1", input="fail")
            assert failed.status == "failed" and "[redacted]" in failed.error.message, failed.error
            assert client.responses.retrieve(failed.id).error.message == failed.error.message
        mock_llm.script(
            {"status": 400, "error": {"message": f"maximum context length exceeded, key {BACKEND_KEY}"}}
        )
        with pytest.raises(openai.BadRequestError) as too_long:
            client.responses.create(model="m1", input="too long")
        assert too_long.value.code == "context_length_exceeded" and BACKEND_KEY not in too_long.value.message
    sent = mock_llm.requests()
    assert sent and all(r["headers"]["authorization"] == f"Bearer {BACKEND_KEY}" for r in sent)

    assert _status(stack.api_url, WRONG_KEY) == 401
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = httpx.post(
        f"{stack.api_url}/v1/admin/keys", json={"name": "leak", "project": "sec"}, headers=admin
    )
    managed = created.json()["key"]
    with _sdk(stack, managed) as client:
        assert client.responses.create(model="m1", input="managed").status == "completed"
    httpx.delete(f"{stack.api_url}/v1/admin/keys/{created.json()['id']}", headers=admin).raise_for_status()
    assert _refused_within_cache(stack.api_url, managed)
    return managed


async def _every_stored_message(stack: Stack, tls: Tls) -> list[bytes]:
    """Every message of every JetStream stream, headers included, once the store has projected them
    all (the api answers before it does), so that the documents are all written too."""
    settings = Settings(nats_url=stack.nats_url, **_tls_settings(tls))
    nc = await nats.connect(**bus.connect_options(settings), max_reconnect_attempts=2, connect_timeout=5)
    try:
        js, messages = nc.jetstream(), []
        for _ in range(600):
            store = await js.consumer_info(subjects.STREAM, "store")
            if not (store.num_pending or store.num_ack_pending):
                break
            await asyncio.sleep(0.1)
        for info in await js.streams_info():
            if not info.state.messages:
                continue
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(info.config.name, seq)
                except NotFoundError:
                    continue  # deleted
                messages.append((msg.data or b"") + repr(msg.headers).encode())
        return messages
    finally:
        await nc.close()


def _every_document(stack: Stack) -> dict[str, list[bytes]]:
    with MongoClient(stack.mongo_uri) as mongo:
        found = {}
        for db_name in (stack.mongo_db, "no_static_keys"):
            db = mongo[db_name]
            for name in db.list_collection_names():
                found[f"{db_name}.{name}"] = [
                    json.dumps(doc, default=str).encode() for doc in db[name].find()
                ]
        return found


async def test_no_secret_enters_an_event_a_document_or_a_log(secure_stack, tls, mock_llm):
    managed = _exercise(secure_stack, mock_llm)
    client_keys = [CLIENT_KEY, ADMIN_KEY, WRONG_KEY, managed]
    master_key = Path(secure_stack.extra_env["GATEWAY_MASTER_KEY_FILE"]).read_text().strip()
    secret_values = [*client_keys, BACKEND_KEY, NATS_PASSWORD, METRICS_TOKEN, DELETED_SECRET, master_key]
    hashes = [hashlib.sha256(key.encode()).hexdigest() for key in client_keys]
    # Managed keys are stored as their hash, and only there.
    anywhere = [s.encode() for s in secret_values + hashes]
    outside_api_keys = [s.encode() for s in secret_values]

    messages = await _every_stored_message(secure_stack, tls)
    assert len(messages) > 10
    for message in messages:
        assert not [s for s in anywhere if s in message], message[:300]

    documents = _every_document(secure_stack)
    assert documents[f"{secure_stack.mongo_db}.responses"]
    for collection, docs in documents.items():
        leaks = outside_api_keys if collection.endswith(".api_keys") else anywhere
        for doc in docs:
            assert not [s for s in leaks if s in doc], (collection, doc[:300])

    assert secure_stack.log_dir is not None
    logs = sorted(secure_stack.log_dir.glob("*.log"))
    assert {"api.log", "worker.log", "store.log", "translator.log", "mongo.log", "nats.log"} <= {
        p.name for p in logs
    }
    assert any(b" DEBUG " in p.read_bytes() for p in logs)  # the services did log at DEBUG
    for path in logs:
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            assert not [s for s in anywhere if s in line], f"{path.name}:{number}: {line[:300]!r}"

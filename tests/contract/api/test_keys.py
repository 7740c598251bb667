"""Managed client keys (services/api/keys.py) in the MongoDB stand-in: a key is stored as its hash only,
shown once; listed without its hash; revoked once; resolved by the key ring until its revocation passes
the ring's cache. The operators' CLI does the same from the environment's settings."""

import asyncio
import json
from collections.abc import Awaitable

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.api import keys
from services.api.auth import key_hash
from shared.errors import AuthenticationFailed


@pytest.fixture
async def stored(db: AsyncDatabase) -> AsyncCollection:
    collection = db[keys.COLLECTION]
    await keys.ensure_indexes(collection)
    return collection


async def test_a_new_key_is_shown_once_and_stored_only_as_its_hash(stored: AsyncCollection):
    key, record = await keys.create_key(stored, name="ci", project="team-a", rpm=10)
    assert key.startswith(keys.KEY_PREFIX)
    assert record["object"] == "api_key" and record["id"].startswith("key_")
    assert (record["name"], record["project"], record["admin"], record["rpm"]) == ("ci", "team-a", False, 10)
    assert record["revoked_at"] is None and "hash" not in record
    (doc,) = await stored.find({}).to_list()
    assert doc["hash"] == key_hash(key)
    assert key not in json.dumps(doc, default=str)


async def test_two_keys_never_share_a_hash(stored: AsyncCollection):
    key, _ = await keys.create_key(stored, name="a", project="p")
    with pytest.raises(DuplicateKeyError):
        await stored.insert_one({"_id": "key_copy", "hash": key_hash(key)})


async def test_keys_are_listed_oldest_first_without_their_hash_per_project(stored: AsyncCollection):
    for name, project, created_at in [("one", "team-a", 20), ("two", "team-b", 30), ("three", "team-a", 10)]:
        _, record = await keys.create_key(stored, name=name, project=project)
        await stored.update_one({"_id": record["id"]}, {"$set": {"created_at": created_at}})
    everything = await keys.list_keys(stored)
    assert [k["name"] for k in everything] == ["three", "one", "two"]
    assert all("hash" not in k for k in everything)
    assert [k["name"] for k in await keys.list_keys(stored, project="team-a")] == ["three", "one"]


async def test_a_key_is_revoked_once(stored: AsyncCollection):
    _, record = await keys.create_key(stored, name="ci", project="team-a")
    revoked = await keys.revoke_key(stored, record["id"])
    assert revoked["revoked_at"] is not None
    await stored.update_one({"_id": record["id"]}, {"$set": {"revoked_at": 5}})
    assert (await keys.revoke_key(stored, record["id"]))["revoked_at"] == 5  # again: unchanged
    assert await keys.revoke_key(stored, "key_missing") is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_ring_resolves_a_managed_key_until_its_revocation_passes_the_cache(stored: AsyncCollection):
    key, record = await keys.create_key(stored, name="ci", project="team-a", admin=True, tpm=99)
    clock = Clock()
    ring = keys.KeyRing({}, stored, cache_s=2.0, clock=clock)
    caller = await ring.caller(f"Bearer {key}")
    assert (caller.tenant, caller.key_id, caller.admin, caller.tpm) == ("team-a", record["id"], True, 99)

    await keys.revoke_key(stored, record["id"])
    assert (await ring.caller(f"Bearer {key}")).key_id == record["id"]  # cached
    clock.now = 2.5
    with pytest.raises(AuthenticationFailed):
        await ring.caller(f"Bearer {key}")


async def test_the_cli_creates_lists_and_revokes(
    db: AsyncDatabase, mongo_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("MONGO_DB", db.name)

    def cli(*argv: str) -> Awaitable[int]:
        return asyncio.to_thread(keys.main, list(argv))  # the CLI runs its own event loop

    assert await cli("create", "--name", "ci", "--project", "team-a", "--rpm", "5") == 0
    created = capsys.readouterr()
    shown = json.loads(created.out)
    assert shown["key"].startswith(keys.KEY_PREFIX) and shown["rpm"] == 5
    assert "cannot be shown again" in created.err

    assert await cli("list", "--project", "team-a") == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["id"] == shown["id"] and "key" not in listed and "hash" not in listed

    assert await cli("revoke", shown["id"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"] is not None
    assert await cli("revoke", "key_missing") == 1
    assert "no key key_missing" in capsys.readouterr().err

"""The key store (shared/datakeys.py) on a real JetStream KV bucket: a response's data key is stored
wrapped, read back by any process holding the master key, and once destroyed never comes back, not as
itself and not as a successor; a tenant's keys are destroyed together."""

import json
import os
import uuid

import pytest
from nats.js import JetStreamContext

from shared import datakeys, sealing
from shared.datakeys import DataKeys, KeyDestroyed
from tests.eventually import eventually

MASTER = sealing.MasterKeys(os.urandom(32))


async def _keys(js: JetStreamContext, master: sealing.MasterKeys = MASTER) -> DataKeys:
    # No cache: every read goes to the bucket, as another process's would.
    return await DataKeys.open(js, master, replicas=1, ttl_s=3600, cache_s=0)


def _response() -> str:
    return f"resp_{uuid.uuid4().hex}"


async def test_a_created_key_is_read_back_by_another_process(js: JetStreamContext):
    response = _response()
    created = await (await _keys(js)).create("team-a", response)
    assert len(created) == sealing.KEY_BYTES
    assert await (await _keys(js)).get("team-a", response) == created


async def test_the_bucket_holds_the_key_only_wrapped(js: JetStreamContext):
    response = _response()
    key = await (await _keys(js)).create("team-a", response)
    kv = await js.key_value(datakeys.BUCKET)
    stored = (await kv.get(f"{datakeys.tenant_digest('team-a')}.{response}")).value
    assert key not in stored
    assert sealing.unwrap(MASTER, json.loads(stored), response_id=response) == key


async def test_a_process_with_another_master_key_cannot_open_it(js: JetStreamContext):
    response = _response()
    await (await _keys(js)).create("team-a", response)
    stranger = await _keys(js, sealing.MasterKeys(os.urandom(32)))
    with pytest.raises(sealing.SealingError):
        await stranger.get("team-a", response)


async def test_get_or_create_makes_one_key_and_then_returns_it(js: JetStreamContext):
    response = _response()
    first = await (await _keys(js)).get_or_create("team-a", response)
    second = await (await _keys(js)).get_or_create("team-a", response)
    assert first == second


async def test_a_key_that_never_was_is_destroyed_for_get(js: JetStreamContext):
    with pytest.raises(KeyDestroyed):
        await (await _keys(js)).get("team-a", _response())


async def test_a_destroyed_key_is_gone_for_every_process_and_never_replaced(js: JetStreamContext):
    response = _response()
    keys = await _keys(js)
    await keys.create("team-a", response)
    await keys.destroy("team-a", response)
    other = await _keys(js)
    with pytest.raises(KeyDestroyed):
        await other.get("team-a", response)
    # Sealing more of a deleted response must not start a readable successor.
    with pytest.raises(KeyDestroyed):
        await other.get_or_create("team-a", response)


async def test_destroy_also_forgets_the_key_this_process_cached(js: JetStreamContext):
    response = _response()
    keys = await DataKeys.open(js, MASTER, replicas=1, ttl_s=3600, cache_s=3600)
    await keys.create("team-a", response)
    await keys.destroy("team-a", response)
    with pytest.raises(KeyDestroyed):
        await keys.get("team-a", response)


async def test_destroying_a_tenant_erases_its_keys_and_no_others(js: JetStreamContext):
    tenant, neighbour = f"team-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    keys = await _keys(js)
    mine = [_response() for _ in range(3)]
    for response in mine:
        await keys.create(tenant, response)
    theirs = _response()
    kept = await keys.create(neighbour, theirs)

    assert await keys.destroy_tenant(tenant) == len(mine)

    for response in mine:
        with pytest.raises(KeyDestroyed):
            await (await _keys(js)).get(tenant, response)
    assert await (await _keys(js)).get(neighbour, theirs) == kept


async def test_opening_the_bucket_again_keeps_its_keys(js: JetStreamContext):
    response = _response()
    key = await (await _keys(js)).create("team-a", response)
    reopened = await DataKeys.open(js, MASTER, replicas=1, ttl_s=3600, cache_s=0)
    assert await reopened.get("team-a", response) == key


def test_tenant_digests_are_stable_key_safe_and_distinct():
    digest = datakeys.tenant_digest("team a/with.dots*")
    assert digest == datakeys.tenant_digest("team a/with.dots*")
    assert digest.isalnum() and len(digest) == 24
    assert digest != datakeys.tenant_digest("team b")


class _NoLookups:
    """A bucket that must not be read: a following process learns keys as they are stored."""

    def __init__(self, kv) -> None:
        self._kv = kv

    async def get(self, name: str):
        raise AssertionError(f"{name} was looked up")

    def __getattr__(self, name: str):
        return getattr(self._kv, name)


async def test_a_following_process_learns_new_keys_without_a_lookup(js: JetStreamContext):
    maker = await _keys(js)
    follower = await DataKeys.open(js, MASTER, replicas=1, ttl_s=3600, cache_s=60)
    await follower.follow()
    follower._kv = _NoLookups(follower._kv)  # what it opens, it must have learned
    response = _response()
    key = await maker.create("team-a", response)
    await eventually(lambda: response in follower._cache, "the follower learned the key")
    assert await follower.get("team-a", response) == key

    # A destruction is not followed: a process still serving the response (the api reading the end
    # of a `store: false` one, destroyed as it is logged) keeps its key for its cache's while.
    await maker.destroy("team-a", response)
    await maker.create("team-a", other := _response())
    await eventually(lambda: other in follower._cache, "the follower learned the next key")
    assert await follower.get("team-a", response) == key

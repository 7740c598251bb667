"""Deletion that erases, by crypto-shredding, against real processes: every content field of the log
is sealed under its response's data key; deleting a response (or its end, for ``store: false``, or
erasing its project) destroys that key, so its content is unreadable in the log and any rebuild while
the envelopes stay as the audit trail."""

import asyncio
import json
import secrets
from collections.abc import AsyncIterator

import httpx
import nats
import openai
import pytest
from pymongo import AsyncMongoClient

from services.store import rebuild
from shared import eventlog, sealing, subjects
from shared.datakeys import KeyDestroyed

from .stacks import cli


def _secret() -> str:
    return "secret-" + secrets.token_hex(8)


@pytest.fixture
async def log(stack) -> AsyncIterator[nats.js.JetStreamContext]:
    """The stack's event log, read as a service reads it: with the stack's master key."""
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    master = sealing.master_keys_from(stack.extra_env)
    await eventlog.seal_with(js, master, ttl_s=3600, cache_s=0)  # every read asks the key store
    yield js
    await nc.close()


async def _messages(js, response_id: str) -> list:
    sub = await js.subscribe(f"resp.{response_id}.>", stream=subjects.STREAM, ordered_consumer=True)
    found = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2)
            except TimeoutError:
                return found
            found.append(msg)
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


async def _erased(js, msg) -> None:
    """A message with content no longer opens; one without (a deletion, a cancel) reads as before."""
    if b'{"sealed":"' in msg.data:
        with pytest.raises(KeyDestroyed):
            await eventlog.decode(js, msg)
    else:
        assert (await eventlog.decode(js, msg)).type.startswith("gateway.response.")


async def _until_key_destroyed(js, msg) -> None:
    """The store destroys keys as it projects; bounded, not timed."""
    for _ in range(100):
        try:
            await eventlog.decode(js, msg)
        except KeyDestroyed:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the data key was never destroyed")


async def test_content_is_sealed_in_the_log_and_served_plain_by_the_api(async_client, log):
    secret = _secret()
    response = await async_client.responses.create(model="m1", input=f"remember {secret}")
    assert secret in response.output_text  # the mock echoes it

    messages = await _messages(log, response.id)
    assert {m.subject.rsplit(".", 1)[1] for m in messages} >= {"requested", "call", "state"}
    assert all(secret.encode() not in m.data for m in messages)
    events = [await eventlog.decode(log, m) for m in messages]
    assert any(secret in json.dumps(e.model_dump(mode="json")) for e in events)
    assert secret in (await async_client.responses.retrieve(response.id)).output_text


async def test_delete_destroys_the_key_and_leaves_the_envelopes(async_client, log, stack):
    secret = _secret()
    response = await async_client.responses.create(model="m1", input=f"forget {secret}")
    await async_client.responses.delete(response.id)

    messages = await _messages(log, response.id)
    await _until_key_destroyed(log, messages[0])
    for msg in messages:
        assert secret.encode() not in msg.data
        await _erased(log, msg)
    envelopes = [json.loads(m.data) for m in messages]
    assert {e["type"] for e in envelopes} >= {"gateway.response.requested", "gateway.response.deleted"}
    completed = next(e for e in envelopes if e.get("type") == "response.completed")
    assert completed["readable"]["status"] == "completed" and completed["readable"]["usage"]["total_tokens"]
    deleted = next(e for e in envelopes if e["type"] == "gateway.response.deleted")
    assert deleted["key_id"] == "env:KEY_A"  # who deleted it stays on record

    shown = cli(stack, "services.store.audit", "show", response.id)
    assert "erased" in shown and secret not in shown and "gateway.response.deleted" in shown


async def test_a_store_false_response_is_erased_when_it_ends(async_client, log):
    secret = _secret()
    response = await async_client.responses.create(model="m1", input=f"ephemeral {secret}", store=False)
    assert secret in response.output_text
    messages = await _messages(log, response.id)
    await _until_key_destroyed(log, messages[0])


async def test_a_later_turn_keeps_its_own_sealed_copy_of_a_deleted_turn(async_client, log):
    secret = _secret()
    first = await async_client.responses.create(model="m1", input=f"turn one {secret}")
    second = await async_client.responses.create(model="m1", input="turn two", previous_response_id=first.id)
    await async_client.responses.delete(first.id)
    await _until_key_destroyed(log, (await _messages(log, first.id))[0])

    call = next(m for m in await _messages(log, second.id) if m.subject.endswith(".call"))
    assert secret.encode() not in call.data
    assert secret in json.dumps((await eventlog.decode(log, call)).chat)  # documented: a copy of its own
    await async_client.responses.delete(second.id)
    await _until_key_destroyed(log, call)


async def test_a_rebuild_after_a_deletion_holds_no_content(async_client, log, stack):
    secret = _secret()
    response = await async_client.responses.create(model="m1", input=f"rebuilt {secret}")
    await async_client.responses.delete(response.id)
    await _until_key_destroyed(log, (await _messages(log, response.id))[0])

    mongo = AsyncMongoClient(stack.mongo_uri)
    try:
        target = mongo[stack.mongo_db][f"rebuilt_{secrets.token_hex(4)}"]
        await rebuild.rebuild(log, target, ttl_s=3600)
        doc = await target.find_one({"_id": response.id})
        assert doc is not None and doc.get("deleted") is True
        assert secret not in json.dumps(doc, default=str)
        await target.drop()
    finally:
        await mongo.close()


async def test_erasing_a_project_destroys_every_key_and_document_of_it(stack, log):
    admin = {"Authorization": f"Bearer {stack.key_admin}"}
    project = "erase-" + secrets.token_hex(4)
    async with httpx.AsyncClient(base_url=f"{stack.api_url}/v1", headers=admin, timeout=30) as http:
        created = (await http.post("/admin/keys", json={"name": "doomed", "project": project})).json()
        tenant_client = openai.AsyncOpenAI(
            base_url=f"{stack.api_url}/v1", api_key=created["key"], max_retries=0
        )
        secret = _secret()
        ids = [(await tenant_client.responses.create(model="m1", input=f"{secret} {n}")).id for n in range(2)]
        erased = (await http.post(f"/admin/projects/{project}/erase")).json()
        assert erased == {
            "project": project,
            "erased_keys": 2,
            "erased_responses": 2,
            "erased_conversations": 0,
        }
        for response_id in ids:
            with pytest.raises(openai.NotFoundError):
                await tenant_client.responses.retrieve(response_id)
            for msg in await _messages(log, response_id):
                assert secret.encode() not in msg.data
                await _erased(log, msg)
        await tenant_client.close()

"""The store's MongoDB client: every call bounded, and an unreachable server is a transient failure
(the event is redelivered later), never a hang."""

import socket

import pytest

from shared import consumers, mongo


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_an_unreachable_mongodb_fails_transiently_within_its_bounds():
    client = mongo.client(f"mongodb://127.0.0.1:{_closed_port()}", retry_writes=False)
    try:
        assert client.options.timeout == mongo.TIMEOUT_MS / 1000
        assert client.options.retry_writes is False
        with pytest.raises(Exception) as failure:
            await client["db"]["responses"].update_one({"_id": "x"}, {"$set": {"a": 1}}, upsert=True)
    finally:
        await client.close()
    assert consumers.is_transient(failure.value), repr(failure.value)

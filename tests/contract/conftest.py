"""The real servers every contract test may use: a JetStream nats-server (one per test module) and the
MongoDB stand-in (one per session), with a fresh database and projection collection per test, as
tests/contract/store/conftest.py first wrote them; and a JetStream connection to the module's server."""

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

# Fixtures, shared from where they began.
from .store.conftest import collection, db, mongo_uri, nats_url  # noqa: F401


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:  # noqa: F811
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()

"""The key store: one data key per response, wrapped by the master key, in a NATS KV bucket.

Destroying a response's key (deletion, the end of a ``store: false`` response, expiry) leaves its
sealed content in the log unreadable for good: the log stays the audit trail that the response
existed, who made and deleted it and when, without what it said. Keys are named
``<tenant digest>.<response id>`` so a tenant's keys can be destroyed together.

Each process caches the keys it uses until ``cache_s`` after their last use (the api seals and reads
back a whole response; the worker seals every event of it), so a destroyed key may still open content
in a process that was serving its response for that long; every stored copy is gone at once. That is
what lets the api still open the end of a ``store: false`` response, whose key the store destroys as
soon as that end is logged. A service also follows the bucket (``follow``): it learns each new key as
it is stored, before the response's first event reaches it, so no lookup is on a response's path.
"""

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue

from shared import retries, sealing

BUCKET = "DATA_KEYS"
_DOWN = "The key store is unavailable; please retry the request."
T = TypeVar("T")
_CACHE_ENTRIES = 20_000


class KeyDestroyed(Exception):
    """The response's data key no longer exists: its content is erased."""


def _name(tenant: str, response_id: str) -> str:
    return f"{tenant_digest(tenant)}.{response_id}"


async def _bounded(call: Callable[[], Awaitable[T]], what: str) -> T:
    """The key store is JetStream: retried through a leader election like any append, then 503."""
    return await retries.retrying(lambda _: call(), what=what, unavailable=_DOWN)


def tenant_digest(tenant: str) -> str:
    # Tenants are free text; KV key names are not. A digest is both safe and stable.
    return hashlib.sha256(tenant.encode()).hexdigest()[:24]


class DataKeys:
    def __init__(self, js: JetStreamContext, kv: KeyValue, master: sealing.MasterKeys, *, cache_s: float):
        self._js = js
        self._kv = kv
        self._master = master
        self._cache_s = cache_s
        self._cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        master: sealing.MasterKeys,
        *,
        replicas: int,
        ttl_s: float,
        cache_s: float = 30.0,
    ) -> "DataKeys":
        """Bind the bucket, creating it on first use; ``ttl_s`` expires keys with their responses."""
        config = KeyValueConfig(
            bucket=BUCKET, history=1, ttl=ttl_s, storage=StorageType.FILE, replicas=replicas
        )
        try:
            kv = await js.create_key_value(config)
        except BadRequestError:
            kv = await js.key_value(BUCKET)
        return cls(js, kv, master, cache_s=cache_s)

    async def follow(self) -> None:
        """Learn each key as the bucket stores it, from now on. A destruction is not followed: a
        process serving the response keeps its key for ``cache_s`` (see above)."""
        await self._js.subscribe(
            f"$KV.{BUCKET}.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW, cb=self._learn
        )

    async def _learn(self, msg: Msg) -> None:
        if (msg.headers or {}).get(KV_OP) in (KV_DEL, KV_PURGE):
            return
        response_id = msg.subject.rsplit(".", 1)[-1]
        try:
            key = sealing.unwrap(self._master, json.loads(msg.data), response_id=response_id)
        except Exception:  # one this process cannot open: looked up when needed, failing as it would
            return
        self._remember(response_id, key)

    async def create(self, tenant: str, response_id: str) -> bytes:
        """A new response's data key, stored wrapped before any content is sealed with it."""
        key = sealing.new_data_key()
        wrapped = sealing.wrap(self._master, key, response_id=response_id)
        name, value = _name(tenant, response_id), json.dumps(wrapped).encode()
        await _bounded(lambda: self._kv.create(name, value), f"creating {name}")
        self._remember(response_id, key)
        return key

    async def get(self, tenant: str, response_id: str) -> bytes:
        """The response's data key; raises ``KeyDestroyed`` once it is gone (or if it never was)."""
        key = await self._find(tenant, response_id)
        if key is None:
            raise KeyDestroyed(response_id)
        return key

    async def get_or_create(self, tenant: str, response_id: str) -> bytes:
        """The key to seal a response's events with: its own, or a new one if it has none yet; never
        a destroyed one's successor, so nothing of a deleted response is written readable again."""
        if (key := await self._find(tenant, response_id)) is not None:
            return key
        try:
            return await self.create(tenant, response_id)
        except KeyWrongLastSequenceError:  # another process created it first
            return await self.get(tenant, response_id)

    async def _find(self, tenant: str, response_id: str) -> bytes | None:
        """The key, or None if there never was one; ``KeyDestroyed`` if it was destroyed."""
        if (cached := self._cache.get(response_id)) and cached[0] > time.monotonic():
            self._remember(response_id, cached[1])  # in use: kept while its response is being served
            return cached[1]
        name = _name(tenant, response_id)
        try:
            entry = await _bounded(lambda: self._kv.get(name), f"reading {name}")
        except KeyNotFoundError as error:
            if getattr(error, "op", None) is not None:  # a delete or purge marker: destroyed
                raise KeyDestroyed(response_id) from None
            return None
        except NotFoundError:
            return None
        key = sealing.unwrap(self._master, json.loads(entry.value), response_id=response_id)
        self._remember(response_id, key)
        return key

    async def destroy(self, tenant: str, response_id: str) -> None:
        """Erase the key: the purge marker replaces every stored copy of it in the bucket's stream."""
        self._cache.pop(response_id, None)
        name = _name(tenant, response_id)
        await _bounded(lambda: self._kv.purge(name), f"destroying {name}")

    async def destroy_tenant(self, tenant: str) -> int:
        """Erase every key of a tenant; returns how many were erased."""
        self._cache.clear()
        subject = f"$KV.{BUCKET}.{tenant_digest(tenant)}.>"
        info = await self._js.stream_info(f"KV_{BUCKET}", subjects_filter=subject)
        erased = len(info.state.subjects or {})
        await self._js.purge_stream(f"KV_{BUCKET}", subject=subject)
        return erased

    def _remember(self, response_id: str, key: bytes) -> None:
        self._cache[response_id] = (time.monotonic() + self._cache_s, key)
        self._cache.move_to_end(response_id)
        while len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)

"""Per-key rate limits, held across api replicas: requests and tokens per fixed UTC minute.

Requests: one MongoDB document per key and minute (collection ``rate_limits``, ``_id =
"<key_id>:<minute>"``), ``$inc``-ed atomically by whichever replica takes the request, so every replica
counts the same requests; a TTL index removes it after the minute. Tokens are known only once a
response finishes, so the tokens of a minute are what the store's usage projection holds for the key's
responses finished in it (including background ones), read at most once a second per key and replica.
A key without limits costs no query.
"""

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.api.auth import Caller
from shared.errors import RateLimited
from shared.readmodel import usage

COLLECTION = "rate_limits"
WINDOW_S = 60
# Tokens lag anyway (counted when a response ends), so a second-old sum is as good as a fresh one.
TOKENS_CACHE_S = 1.0


def window(now: float) -> tuple[int, int]:
    """The current window's number and the whole seconds until the next one begins."""
    return int(now // WINDOW_S), max(1, math.ceil(WINDOW_S - now % WINDOW_S))


def exceeded(kind: str, *, limit: int, used: int, retry_after_s: int) -> RateLimited:
    """OpenAI's wording for a limit reached, with the ``retry-after`` it implies."""
    unit = {"requests": "RPM", "tokens": "TPM"}[kind]
    return RateLimited(
        f"Rate limit reached on {kind} per min ({unit}): Limit {limit}, Used {used}. "
        f"Please try again in {retry_after_s}s.",
        retry_after_s=retry_after_s,
    )


class Limiter:
    def __init__(
        self,
        counters: AsyncCollection,
        usage_collection: AsyncCollection,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._counters = counters
        self._usage = usage_collection
        self._clock = clock
        self._tokens: dict[str, tuple[float, int, int]] = {}  # key id -> (fresh until, minute, tokens)

    async def admit(self, caller: Caller) -> None:
        """Count one request of ``caller``, or raise ``RateLimited`` if a limit of its key is reached."""
        if caller.key_id is None or (caller.rpm is None and caller.tpm is None):
            return
        now = self._clock()
        minute, retry_after_s = window(now)
        if caller.tpm is not None:
            used = await self._tokens_used(caller.key_id, minute, now)
            if used >= caller.tpm:
                raise exceeded("tokens", limit=caller.tpm, used=used, retry_after_s=retry_after_s)
        if caller.rpm is not None:
            used = await self._count_request(caller.key_id, minute)
            if used > caller.rpm:
                raise exceeded("requests", limit=caller.rpm, used=used, retry_after_s=retry_after_s)

    async def _count_request(self, key_id: str, minute: int) -> int:
        expires = datetime.fromtimestamp((minute + 2) * WINDOW_S, tz=UTC)
        query = {"_id": f"{key_id}:{minute}"}
        update = {"$inc": {"requests": 1}, "$setOnInsert": {"expires_at": expires}}
        try:
            doc = await self._counters.find_one_and_update(
                query, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # another replica inserted the window first: it exists now
            doc = await self._counters.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER
            )
        return int(doc["requests"])

    async def _tokens_used(self, key_id: str, minute: int, now: float) -> int:
        cached = self._tokens.get(key_id)
        if cached is not None and cached[0] > now and cached[1] == minute:
            return cached[2]
        used = await usage.tokens_since(self._usage, key_id=key_id, since=minute * WINDOW_S)
        self._tokens[key_id] = (now + TOKENS_CACHE_S, minute, used)
        return used


async def ensure_indexes(counters: AsyncCollection) -> None:
    await counters.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)

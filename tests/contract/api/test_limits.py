"""Per-key rate limits (services/api/limits.py) held in the MongoDB stand-in: requests are counted per
key and UTC minute across replicas, tokens are read from the usage projection, and each limit reached is
a 429 that says when to retry."""

from datetime import UTC, datetime

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api import limits
from services.api.auth import Caller
from shared.errors import RateLimited
from shared.readmodel import usage

MINUTE = 28_000_000  # an arbitrary UTC minute
START = MINUTE * limits.WINDOW_S


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _limiter(db: AsyncDatabase, clock: Clock) -> limits.Limiter:
    return limits.Limiter(db[limits.COLLECTION], db[usage.COLLECTION], clock=clock)


async def test_requests_past_the_limit_of_a_minute_are_refused_until_the_next(db: AsyncDatabase):
    clock = Clock(START + 45)
    limiter, caller = _limiter(db, clock), Caller(tenant="t", key_id="key_a", rpm=3)
    for _ in range(3):
        await limiter.admit(caller)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(caller)
    assert "requests per min (RPM): Limit 3, Used 4" in refused.value.message
    assert refused.value.retry_after_s == 15
    clock.now = START + 60
    await limiter.admit(caller)


async def test_replicas_count_the_same_requests(db: AsyncDatabase):
    clock = Clock(START + 1)
    replicas = [_limiter(db, clock), _limiter(db, clock)]
    caller = Caller(tenant="t", key_id="key_b", rpm=2)
    await replicas[0].admit(caller)
    await replicas[1].admit(caller)
    with pytest.raises(RateLimited):
        await replicas[0].admit(caller)


async def test_each_key_has_its_own_count(db: AsyncDatabase):
    limiter = _limiter(db, Clock(START + 1))
    await limiter.admit(Caller(tenant="t", key_id="key_c", rpm=1))
    await limiter.admit(Caller(tenant="t", key_id="key_d", rpm=1))
    with pytest.raises(RateLimited):
        await limiter.admit(Caller(tenant="t", key_id="key_c", rpm=1))


async def test_a_minutes_counter_expires_after_the_minute(db: AsyncDatabase):
    await limits.ensure_indexes(db[limits.COLLECTION])
    await _limiter(db, Clock(START + 1)).admit(Caller(tenant="t", key_id="key_e", rpm=5))
    (counter,) = await db[limits.COLLECTION].find({}).to_list()
    assert counter["requests"] == 1
    expires = counter["expires_at"].replace(tzinfo=UTC)
    assert expires > datetime.fromtimestamp(START + limits.WINDOW_S, tz=UTC)
    indexes = await db[limits.COLLECTION].index_information()
    assert any(i["key"] == [("expires_at", 1)] and i["expireAfterSeconds"] == 0 for i in indexes.values())


async def test_tokens_used_in_the_minute_past_the_limit_are_refused(db: AsyncDatabase):
    finished = [
        {"_id": "resp_1", "key_id": "key_f", "finished_at": START + 5, "total_tokens": 600},
        {"_id": "resp_2", "key_id": "key_f", "finished_at": START - 5, "total_tokens": 5000},  # a minute ago
        {"_id": "resp_3", "key_id": "key_other", "finished_at": START + 5, "total_tokens": 5000},
    ]
    await db[usage.COLLECTION].insert_many(finished)
    clock = Clock(START + 10)
    limiter, caller = _limiter(db, clock), Caller(tenant="t", key_id="key_f", tpm=1000)
    await limiter.admit(caller)

    await db[usage.COLLECTION].insert_one(
        {"_id": "resp_4", "key_id": "key_f", "finished_at": START + 11, "total_tokens": 400}
    )
    clock.now += limits.TOKENS_CACHE_S + 1
    with pytest.raises(RateLimited) as refused:
        await limiter.admit(caller)
    assert "tokens per min (TPM): Limit 1000, Used 1000" in refused.value.message

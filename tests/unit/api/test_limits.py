"""Per-key rate limits (services/api/limits.py) without a server: the fixed UTC minute, OpenAI's words for
a limit reached, and that a caller without limits costs no query. Counting across replicas in MongoDB is
in tests/contract/api/test_limits.py."""

import pytest

from services.api import limits
from services.api.auth import Caller
from shared.errors import RateLimited

from .gateways import NoDatabase


@pytest.mark.parametrize(
    ("now", "minute", "retry_after_s"),
    [(0.0, 0, 60), (59.0, 0, 1), (59.9, 0, 1), (60.0, 1, 60), (125.5, 2, 55)],
)
def test_the_window_is_the_utc_minute_and_retry_after_is_what_is_left_of_it(now, minute, retry_after_s):
    assert limits.window(now) == (minute, retry_after_s)


@pytest.mark.parametrize(("kind", "unit"), [("requests", "RPM"), ("tokens", "TPM")])
def test_a_limit_reached_is_a_rate_limit_in_openais_words(kind, unit):
    error = limits.exceeded(kind, limit=10, used=11, retry_after_s=7)
    assert isinstance(error, RateLimited)
    assert error.message == (
        f"Rate limit reached on {kind} per min ({unit}): Limit 10, Used 11. Please try again in 7s."
    )
    assert error.headers() == {"retry-after": "7"}
    assert error.status == 429


@pytest.mark.parametrize(
    "caller",
    [
        Caller(tenant="t", key_id="env:KEY_A"),  # a key without limits
        Caller(tenant="anonymous", rpm=1, tpm=1),  # no key to count against
    ],
)
async def test_a_caller_without_limits_or_without_a_key_is_admitted_without_a_query(caller):
    limiter = limits.Limiter(NoDatabase(), NoDatabase(), clock=lambda: 120.0)
    for _ in range(3):
        await limiter.admit(caller)

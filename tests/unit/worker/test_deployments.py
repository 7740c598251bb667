import random

import pytest

from services.worker.deployments import Pool
from shared.config import GatewayConfig
from shared.domain.usage import cost_usd

CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {"name": "m", "api_base": "http://a/v1", "model": "a", "id": "a", "rpm": 2},
            {"name": "m", "api_base": "http://b/v1", "model": "b", "id": "b", "tpm": 100},
        ],
        "cooldown": {"failures": 2, "seconds": 30},
    }
)
A, B = CONFIG.models


class Clock:
    def __init__(self) -> None:
        self.now = 6000.0  # the start of a minute

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pool(clock: Clock) -> Pool:
    return Pool(CONFIG, clock=clock, rng=random.Random(0))


def test_consecutive_failures_cool_a_deployment_down_until_it_comes_back(pool, clock):
    pool.failed(A, "503")
    pool.succeeded(A, None)  # a success in between resets the count
    pool.failed(A, "503")
    assert pool.health().cooling == frozenset()
    pool.failed(A, "ReadTimeout")
    assert pool.health().cooling == {"a"}
    assert [d.id for d in pool.plan("m", affinity="a")] == ["b", "a"]
    clock.now += 31
    assert pool.health().cooling == frozenset()
    assert pool.plan("m", affinity="a")[0].id == "a"


def test_rpm_and_tpm_saturate_a_deployment_for_the_rest_of_the_minute(pool, clock):
    pool.started(A)
    assert pool.health().saturated == frozenset()
    pool.started(A)
    pool.started(B)
    pool.succeeded(B, {"total_tokens": 100})
    assert pool.health().saturated == {"a", "b"}
    clock.now += 60
    assert pool.health().saturated == frozenset()


def test_cost_prices_cached_input_apart_only_when_it_has_a_price():
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 400}}
    priced = A.model_copy(
        update={"input_cost_per_mtok": 2.0, "output_cost_per_mtok": 10.0, "cached_input_cost_per_mtok": 0.5}
    )
    assert cost_usd(priced, usage) == pytest.approx((600 * 2.0 + 400 * 0.5 + 100 * 10.0) / 1e6)
    uncached = priced.model_copy(update={"cached_input_cost_per_mtok": None})
    assert cost_usd(uncached, usage) == pytest.approx((1000 * 2.0 + 100 * 10.0) / 1e6)
    assert cost_usd(A, None) == 0.0

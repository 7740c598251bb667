"""Which failures are retried, and that a retry loop ends: shared/retries.py, no servers."""

import asyncio

import nats.errors
import nats.js.errors
import pytest
from pydantic import BaseModel, ValidationError
from pymongo.errors import AutoReconnect, DuplicateKeyError, ServerSelectionTimeoutError

from shared.errors import InvalidRequest, ServiceUnavailable
from shared.retries import Budget, Transient, is_transient, retrying

QUICK = Budget(total_s=0.5, attempt_s=0.2, first_delay_s=0.01, max_delay_s=0.02)


class _Shape(BaseModel):
    n: int


def _validation_error() -> ValidationError:
    try:
        _Shape.model_validate({"n": "x"})
    except ValidationError as error:
        return error
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        nats.errors.TimeoutError(),
        nats.errors.NoRespondersError(),
        nats.js.errors.NoStreamResponseError(),
        nats.errors.ConnectionClosedError(),
        AutoReconnect("primary stepped down"),
        ServerSelectionTimeoutError("no servers"),
        ServiceUnavailable("log down"),
        Transient("later"),
    ],
)
def test_the_outside_world_not_answering_is_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        KeyError("name"),
        ValueError("bad"),
        _validation_error(),
        DuplicateKeyError("dup"),
        InvalidRequest("no"),
    ],
)
def test_everything_else_is_permanent(error):
    assert not is_transient(error)


async def test_a_transient_failure_is_retried_until_it_succeeds():
    timeouts: list[float] = []

    async def attempt(timeout_s: float) -> str:
        timeouts.append(timeout_s)
        if len(timeouts) < 3:
            raise nats.errors.TimeoutError
        return "stored"

    assert await retrying(attempt, what="test", budget=QUICK) == "stored"
    assert len(timeouts) == 3
    assert all(0 < t <= QUICK.attempt_s for t in timeouts)


async def test_a_permanent_failure_is_raised_at_once():
    calls = 0

    async def attempt(_: float) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("name")

    with pytest.raises(KeyError):
        await retrying(attempt, what="test", budget=QUICK)
    assert calls == 1


async def test_a_spent_budget_is_service_unavailable_with_the_last_failure_as_cause():
    calls = 0

    async def attempt(_: float) -> None:
        nonlocal calls
        calls += 1
        raise nats.js.errors.NoStreamResponseError

    with pytest.raises(ServiceUnavailable) as raised:
        await retrying(attempt, what="test", budget=QUICK, unavailable="try again")
    assert raised.value.status == 503 and raised.value.message == "try again"
    assert raised.value.headers() == {"retry-after": "1"}
    assert isinstance(raised.value.__cause__, nats.js.errors.NoStreamResponseError)
    assert calls > 1


async def test_an_attempt_that_ignores_its_timeout_is_cut_off():
    async def hangs(_: float) -> None:
        await asyncio.Event().wait()

    budget = Budget(total_s=0.2, attempt_s=0.05, first_delay_s=0.05, max_delay_s=0.05)
    with pytest.raises(ServiceUnavailable):
        await retrying(hangs, what="test", budget=budget)

import random
from collections import Counter

import pytest

from shared.config import GatewayConfig
from shared.domain.routing import Health, backoff_s, body_for, next_try, plan
from shared.errors import InvalidRequest, RateLimited


def deployment(name: str, model: str, **extra: object) -> dict:
    return {"name": name, "api_base": f"http://{model}/v1", "model": model, **extra}


CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            deployment("small", "up-small"),
            deployment("big", "up-big", max_tokens_param="max_completion_tokens"),
            deployment("routed", "a", weight=3),
            deployment("routed", "b", weight=1),
            deployment("routed", "spare", weight=0, id="spare"),
            deployment("backup", "c"),
        ],
        "fallbacks": {"routed": ["backup", "small"]},
        "retry": {"attempts": 3, "backoff_s": 0.5},
    }
)


def ids(deployments) -> list[str]:
    return [d.id for d in deployments]


HEALTHY = Health()


def routed(health: Health = HEALTHY, affinity: str | None = None, seed: int = 0) -> list[str]:
    return ids(plan(CONFIG, "routed", health=health, affinity=affinity, rng=random.Random(seed)))


def test_body_is_addressed_to_the_deployment_and_streams_usage():
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9, "temperature": 0.1}
    small, big = CONFIG.deployments("small")[0], CONFIG.deployments("big")[0]
    assert body_for(chat, small) == {
        **chat,
        "model": "up-small",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    renamed = body_for(chat, big)
    assert renamed["max_completion_tokens"] == 9 and "max_tokens" not in renamed
    assert chat["max_tokens"] == 9  # the event's body is not mutated


def test_unknown_model_is_model_not_found():
    with pytest.raises(InvalidRequest) as err:
        plan(CONFIG, "huge", health=Health(), affinity=None, rng=random.Random(0))
    assert err.value.code == "model_not_found"


def test_deployments_of_one_name_get_default_ids():
    assert ids(CONFIG.deployments("routed")) == ["routed#1", "routed#2", "spare"]


def test_plan_tries_the_model_then_its_fallbacks_in_order_each_once():
    for seed in range(20):
        tried = routed(seed=seed)
        assert sorted(tried[:2]) == ["routed#1", "routed#2"]
        assert tried[2:] == ["spare", "backup", "small"]


def test_weights_spread_the_first_choice():
    firsts = Counter(routed(seed=seed)[0] for seed in range(4000))
    assert set(firsts) == {"routed#1", "routed#2"}  # a standby is never a first choice
    assert 2.5 < firsts["routed#1"] / firsts["routed#2"] < 3.6  # weights 3 : 1


def test_affinity_goes_first_while_healthy():
    assert all(routed(affinity="routed#2", seed=s)[0] == "routed#2" for s in range(20))
    assert routed(affinity="spare")[0] == "spare"
    cooling = Health(cooling=frozenset({"routed#2"}))
    assert all(routed(cooling, affinity="routed#2", seed=s)[0] == "routed#1" for s in range(20))
    # An affinity to a deployment of another model (the conversation switched models) is ignored.
    assert ids(plan(CONFIG, "small", health=Health(), affinity="routed#1", rng=random.Random(0))) == ["small"]


def test_cooling_deployments_come_last_and_saturated_ones_not_at_all():
    health = Health(cooling=frozenset({"routed#1", "backup"}), saturated=frozenset({"small"}))
    assert routed(health) == ["routed#2", "spare", "routed#1", "backup"]
    all_cooling = Health(cooling=frozenset(d.id for d in CONFIG.models))
    assert ids(plan(CONFIG, "small", health=all_cooling, affinity=None, rng=random.Random(0))) == ["small"]


def test_every_deployment_saturated_is_rate_limited():
    saturated = Health(saturated=frozenset({"small"}))
    with pytest.raises(RateLimited):
        plan(CONFIG, "small", health=saturated, affinity=None, rng=random.Random())


def test_backoff_doubles():
    assert [backoff_s(CONFIG, n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_a_failed_try_goes_to_the_next_deployment_of_the_plan():
    planned = plan(CONFIG, "routed", health=HEALTHY, affinity=None, rng=random.Random(0))
    for reason in ("503", "429", "ReadTimeout", "ConnectError"):
        assert next_try(planned, planned[0], reason, tries=1, config=CONFIG) == planned[1]
    assert next_try(planned, planned[1], "503", tries=2, config=CONFIG) == planned[2]


def test_a_failed_connection_is_tried_again_where_no_other_deployment_is_left():
    (only,) = plan(CONFIG, "small", health=HEALTHY, affinity=None, rng=random.Random(0))
    for reason in ("ConnectError", "ConnectTimeout", "RemoteProtocolError", "ReadError"):
        assert next_try([only], only, reason, tries=1, config=CONFIG) == only
        assert next_try([only], only, reason, tries=2, config=CONFIG) == only
    # An answer (a refusal, an overload) or a stall is the deployment's own: not tried again.
    for reason in ("503", "429", "ReadTimeout"):
        assert next_try([only], only, reason, tries=1, config=CONFIG) is None


def test_tries_stop_at_retry_attempts():
    planned = plan(CONFIG, "routed", health=HEALTHY, affinity=None, rng=random.Random(0))
    assert next_try(planned, planned[2], "503", tries=3, config=CONFIG) is None
    (only,) = plan(CONFIG, "small", health=HEALTHY, affinity=None, rng=random.Random(0))
    assert next_try([only], only, "ConnectError", tries=3, config=CONFIG) is None


def test_truncation_fits_the_window_of_the_deployment_that_serves():
    """Two deployments of one model with different windows: each gets the chat fitted to its own."""
    config = GatewayConfig.model_validate(
        {
            "models": [
                deployment("windowed", "wide", context_window=1000),
                deployment("windowed", "narrow", context_window=30),
            ]
        }
    )
    wide, narrow = config.deployments("windowed")
    turns = [{"role": "user", "content": f"turn {i} " + "x" * 40} for i in range(4)]
    chat = {"messages": turns}
    assert body_for(chat, wide, truncate=True)["messages"] == turns
    assert body_for(chat, narrow, truncate=True)["messages"] == turns[-1:]
    assert body_for(chat, narrow, truncate=False)["messages"] == turns  # truncation: disabled

"""Routing against real processes: several deployments behind one model name (told apart at the mock
LLM by the upstream model they send), retries, fallbacks, cooldowns, weights and session affinity
across api and worker replicas. The config is ``conftest.gateway_config``."""

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.responses import Response
from pymongo import MongoClient
from pymongo.database import Database

from .stacks import until

ROUTED = {"routed-a", "routed-b"}
# Upstream model -> deployment id (the sticky ones have default ids: name#n in file order).
STICKY_IDS = {"sticky-a": "sticky#1", "sticky-b": "sticky#2"}


@pytest.fixture(scope="module")
def db(stack) -> Iterator[Database]:
    with MongoClient(stack.mongo_uri) as mongo:
        yield mongo[stack.mongo_db]


def upstreams(mock_llm) -> list[str]:
    return [r["body"]["model"] for r in mock_llm.requests()]


def served_by(db: Database, response_id: str) -> str:
    """The deployment the projection names as the response's server, once the store has written it (the
    api answers before that, reads the store has not caught up with read the log)."""

    def projected() -> str | None:
        return (db.responses.find_one({"_id": response_id}) or {}).get("served_by")

    return until(projected, f"{response_id} projected with its server")


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "error": {"message": "slow down"}},
        {"status": 500, "error": {"message": "boom"}},
        {"wait_s": 3.0},  # stalls before answering, three times routed's timeout_s
    ],
    ids=["429", "500", "timeout"],
)
def test_a_failing_deployment_is_retried_on_the_other(client, mock_llm, db, failure):
    mock_llm.script(failure)
    response = client.responses.create(model="routed", input="again")
    assert response.status == "completed" and response.output_text == "echo: again"
    first, second = upstreams(mock_llm)
    assert {first, second} == ROUTED
    assert served_by(db, response.id) == second


def streamed(client: openai.OpenAI, **params) -> Response:
    """A streamed response, as its last event shows it: only a streamed answer has a first chunk (a
    foreground non-stream one is asked of the backend whole)."""
    return list(client.responses.create(stream=True, **params))[-1].response


def test_a_connection_reset_before_the_first_chunk_is_retried_on_the_only_deployment(client, mock_llm):
    mock_llm.script({"content": "lost", "abort_after": 0})  # headers, then the connection drops
    response = streamed(client, model="m2", input="once more")
    assert response.status == "completed" and response.output_text == "echo: once more"
    assert upstreams(mock_llm) == ["mock-2", "mock-2"]


def test_a_failure_after_the_first_chunk_is_not_retried(client, mock_llm):
    mock_llm.script({"content": "a long answer that breaks off", "abort_after": 2})
    response = streamed(client, model="routed", input="break")
    assert response.status == "failed" and response.error.code == "server_error"
    assert len(upstreams(mock_llm)) == 1


def test_a_failing_model_falls_back_to_the_next_model(client, mock_llm, db):
    mock_llm.script({"status": 503, "error": {"message": "overloaded"}})
    response = client.responses.create(model="flaky", input="fall back")
    assert response.status == "completed" and response.model == "flaky"
    assert upstreams(mock_llm) == ["flaky-up", "mock-2"]
    assert served_by(db, response.id) == "m2"


def test_a_refusal_of_the_request_itself_fails_at_once_as_the_clients_400(client, mock_llm):
    mock_llm.script({"status": 400, "error": {"message": "temperature is out of range"}})
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="routed", input="no")
    assert (
        refused.value.type == "invalid_request_error"
        and "temperature is out of range" in refused.value.message
    )
    assert len(upstreams(mock_llm)) == 1


def test_a_refused_gateway_key_is_the_gateways_error_and_another_deployment_serves(client, mock_llm):
    mock_llm.script({"status": 401, "error": {"message": "bad backend key"}})
    assert client.responses.create(model="routed", input="next one").status == "completed"
    assert len(upstreams(mock_llm)) == 2


def test_a_failed_deployment_cools_down_and_comes_back(client, mock_llm, stack):
    time.sleep(stack.cooldown_s)  # whatever earlier tests cooled down is back
    mock_llm.script({"status": 500})
    client.responses.create(model="routed", input="fail once")
    failed, healthy = upstreams(mock_llm)
    mock_llm.reset()

    for _ in range(3):
        client.responses.create(model="routed", input="while it cools")
    assert upstreams(mock_llm) == [healthy] * 3

    time.sleep(stack.cooldown_s)
    mock_llm.reset()
    for _ in range(30):  # equal weights: each request has even odds of going to it
        client.responses.create(model="routed", input="after the cooldown")
        if failed in upstreams(mock_llm):
            break
    assert failed in upstreams(mock_llm)


def test_weights_spread_requests(client, mock_llm):
    for _ in range(40):
        client.responses.create(model="spread", input="spread", store=False)
    counts = Counter(upstreams(mock_llm))
    assert counts["spread-heavy"] > counts["spread-light"] > 0  # weights 3 : 1


def test_usage_and_cost_by_deployment_count_each_response_once(client, mock_llm, stack):
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    mock_llm.script({"status": 429}, {"content": "priced", "usage": usage})
    before = _deployment_usage(stack)
    response = client.responses.create(model="routed", input="what does it cost")
    served = upstreams(mock_llm)[-1]
    earlier = before.get(served, {}).get("requests", 0)

    def counted() -> dict | None:  # usage is projected by the store, after the api answered
        after = _deployment_usage(stack)
        return after if after.get(served, {}).get("requests", 0) > earlier else None

    after = until(counted, "the response counted")
    assert after[served]["requests"] - earlier == 1
    assert after[served]["total_tokens"] - before.get(served, {}).get("total_tokens", 0) == 1500
    # routed's prices: 1 per million input tokens, 4 per million output tokens
    spent = after[served]["cost_usd"] - before.get(served, {}).get("cost_usd", 0)
    assert spent == pytest.approx((1000 * 1.0 + 500 * 4.0) / 1e6)
    assert response.usage.total_tokens == 1500


def _deployment_usage(stack) -> dict[str, dict]:
    reply = httpx.get(
        f"{stack.api_url}/v1/admin/usage",
        params={"group_by": "deployment", "since": "0"},
        headers={"Authorization": f"Bearer {stack.key_admin}"},
    )
    reply.raise_for_status()
    return {row["deployment"]: row for row in reply.json()["data"]}


def test_affinity_holds_across_api_and_worker_replicas(stack, mock_llm, db):
    api_2, worker_2 = stack.add_replica("api"), stack.add_replica("worker")
    clients = [
        openai.OpenAI(base_url=f"{url}/v1", api_key=stack.key_a, max_retries=0)
        for url in (stack.api_url, api_2.url)
    ]
    try:
        previous = clients[0].responses.create(model="sticky", input="turn 0")
        for turn in range(1, 8):
            previous = clients[turn % 2].responses.create(
                model="sticky", input=f"turn {turn}", previous_response_id=previous.id
            )
        sent = upstreams(mock_llm)
        assert len(sent) == 8 and len(set(sent)) == 1, sent
        warm = sent[0]
        assert served_by(db, previous.id) == STICKY_IDS[warm]

        # The warm deployment refuses: the turn goes elsewhere, and the next one sticks to that.
        mock_llm.reset()
        mock_llm.script({"status": 429})
        moved = clients[0].responses.create(model="sticky", input="moved", previous_response_id=previous.id)
        after = clients[1].responses.create(model="sticky", input="after", previous_response_id=moved.id)
        other = (set(STICKY_IDS) - {warm}).pop()
        assert upstreams(mock_llm) == [warm, other, other]
        assert served_by(db, after.id) == STICKY_IDS[other]
        assert after.output_text == "echo: after"
    finally:
        for sdk in clients:
            sdk.close()
        api_2.stop()
        worker_2.stop()

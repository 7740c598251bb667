"""Keys and tenants against real processes: project isolation on every endpoint, managed keys (HTTP
and CLI) revoked without a restart, admin-only operations, per-key rate limits, usage per key."""

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from .stacks import cli, until


@pytest.fixture
def admin(stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.key_admin}"}
    with httpx.Client(base_url=f"{stack.api_url}/v1/admin", headers=headers, timeout=30) as http:
        yield http


def sdk(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=key, max_retries=0)


def refused_within_cache(sdk_client: openai.OpenAI) -> bool:
    """Whether the key is refused within a few cache lifetimes (KEY_CACHE_S=1 in the stack)."""
    for _ in range(40):
        try:
            sdk_client.models.list()
        except openai.AuthenticationError:
            return True
        time.sleep(0.1)
    return False


def test_every_endpoint_is_scoped_to_the_project(client, client_b, mock_llm, stack, admin):
    secret = "the launch code is 42"
    owned = client.responses.create(model="m1", input=secret)
    queued = client.responses.create(model="m1", input="later", background=True)
    [item] = client.responses.input_items.list(owned.id).data

    for call in (
        lambda: client_b.responses.retrieve(owned.id),
        lambda: client_b.responses.retrieve(owned.id, stream=True),
        lambda: client_b.responses.input_items.list(owned.id),
        lambda: client_b.responses.cancel(queued.id),
        lambda: client_b.responses.delete(owned.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    with pytest.raises(openai.BadRequestError) as err:
        client_b.responses.create(model="m1", input="continue", previous_response_id=owned.id)
    assert err.value.code == "previous_response_not_found"
    counted = httpx.post(
        f"{stack.api_url}/v1/responses/input_tokens",
        json={"model": "m1", "input": "x", "previous_response_id": owned.id},
        headers={"Authorization": f"Bearer {stack.key_b}"},
    )
    assert counted.status_code in (400, 404)
    with pytest.raises(openai.BadRequestError):  # another project's items cannot be referenced
        client_b.responses.create(model="m1", input=[{"type": "item_reference", "id": item.id}])
    assert all(secret not in json.dumps(r["body"]) for r in mock_llm.requests()[1:])

    # A managed key of the same project sees the project's responses.
    created = admin.post("/keys", json={"name": "team-a ci", "project": "team-a"}).json()
    with sdk(stack, created["key"]) as same_project:
        assert same_project.responses.retrieve(owned.id).output_text == f"echo: {secret}"
    assert client.responses.retrieve(owned.id).id == owned.id  # untouched by the attempts above


def test_admin_operations_need_an_admin_key(stack):
    for key, status in ((stack.key_a, 403), ("sk-wrong", 401), (None, 401)):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        for method, path in (("GET", "/keys"), ("POST", "/keys"), ("DELETE", "/keys/x"), ("GET", "/usage")):
            reply = httpx.request(
                method, f"{stack.api_url}/v1/admin{path}", headers=headers, json={"name": "n", "project": "p"}
            )
            assert reply.status_code == status, (key, method, path, reply.text)
            assert set(reply.json()["error"]) == {"message", "type", "param", "code"}


def test_a_managed_key_works_until_revoked_without_a_restart(stack, admin, mock_llm):
    created = admin.post("/keys", json={"name": "temp", "project": "team-temp", "rpm": 100}).json()
    assert created["key"].startswith("sk-gw-") and created["project"] == "team-temp"
    with sdk(stack, created["key"]) as temp:
        assert temp.responses.create(model="m1", input="hello").status == "completed"
        listed = {k["id"]: k for k in admin.get("/keys").json()["data"]}
        assert listed[created["id"]]["revoked_at"] is None
        assert created["key"] not in json.dumps(listed) and "hash" not in listed[created["id"]]

        revoked = admin.delete(f"/keys/{created['id']}").json()
        assert revoked["revoked_at"] is not None
        assert refused_within_cache(temp)
    assert admin.delete("/keys/key_missing").status_code == 404


def test_the_cli_creates_lists_and_revokes_keys(stack, mock_llm):
    created = json.loads(
        cli(stack, "services.api.keys", "create", "--name", "from-cli", "--project", "team-a")
    )
    with sdk(stack, created["key"]) as from_cli:
        assert from_cli.responses.create(model="m1", input="via cli").output_text == "echo: via cli"
        listed = [
            json.loads(line)
            for line in cli(stack, "services.api.keys", "list", "--project", "team-a").splitlines()
        ]
        assert created["id"] in [k["id"] for k in listed]
        assert created["key"] not in json.dumps(listed)
        assert json.loads(cli(stack, "services.api.keys", "revoke", created["id"]))["revoked_at"] is not None
        assert refused_within_cache(from_cli)


def test_requests_per_minute_limit_is_a_429_with_retry_after(stack, mock_llm):
    # One more request than twice the limit: however the minute boundary splits them, one window
    # holds more than the limit.
    statuses, limited = [], None
    for _ in range(2 * stack.rpm_limit + 1):
        reply = httpx.post(
            f"{stack.api_url}/v1/responses",
            json={"model": "m1", "input": "hi", "store": False},
            headers={"Authorization": f"Bearer {stack.key_rpm}"},
            timeout=30,
        )
        statuses.append(reply.status_code)
        limited = reply if reply.status_code == 429 else limited
    assert set(statuses) == {200, 429} and limited is not None
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    error = limited.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and "requests per min" in error["message"]


def test_tokens_per_minute_limit_is_a_429(stack, mock_llm):
    usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}  # over the limit at once
    with sdk(stack, stack.key_tpm) as limited:
        # Tokens count once a response finished and the projection holds it; poll a bounded while.
        for _ in range(30):
            mock_llm.script({"content": "costly", "usage": usage})
            try:
                limited.responses.create(model="m1", input="spend")
            except openai.RateLimitError as error:
                assert error.body["code"] == "rate_limit_exceeded" and "tokens per min" in error.message
                assert int(error.response.headers["retry-after"]) >= 1
                return
            time.sleep(0.2)
    raise AssertionError("the tokens-per-minute limit never applied")


def test_usage_per_key_counts_requests_errors_and_tokens(stack, admin, mock_llm):
    created = admin.post("/keys", json={"name": "metered", "project": "team-meter"}).json()
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "total_tokens": 42,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }
    mock_llm.script({"content": "metered", "usage": usage}, {"status": 500, "error": {"message": "no"}})
    with sdk(stack, created["key"]) as metered:
        assert metered.responses.create(model="m1", input="one").status == "completed"
        assert metered.responses.create(model="m1", input="two").status == "failed"

    def counted() -> dict | None:  # usage is projected by the store, after the api answered
        rows = admin.get("/usage", params={"group_by": "key", "since": "1970-01-01T00:00:00"}).json()["data"]
        return next((r for r in rows if r["key"] == created["id"] and r["requests"] == 2), None)

    row = until(counted, "both requests counted")
    assert (row["requests"], row["errors"]) == (2, 1)
    assert (row["input_tokens"], row["cached_input_tokens"]) == (30, 10)
    assert (row["output_tokens"], row["reasoning_tokens"], row["total_tokens"]) == (12, 4, 42)

    by_project = admin.get("/usage", params={"group_by": "model", "project": "team-meter"}).json()["data"]
    assert [(r["model"], r["requests"]) for r in by_project] == [("m1", 2)]
    from_cli = [
        json.loads(line)
        for line in cli(stack, "services.api.keys", "usage", "--group-by", "key").splitlines()
    ]
    assert [r for r in from_cli if r["key"] == created["id"]] == [row]

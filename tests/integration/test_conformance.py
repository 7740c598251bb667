"""Schema-driven fuzzing (schemathesis) of the running stack with OpenAI's own spec: whatever the body,
the gateway answers without a 5xx, every error is OpenAI-shaped, every JSON success validates
against the spec's response schema, and a stored response it created can be retrieved.

Cases are drawn with hypothesis from each operation's strategy rather than through schemathesis' pytest
plugin, whose lazy fixture loading does not run on pytest 9. CI draws 40 cases per operation, the same
ones each run; ``FUZZ_EXAMPLES`` asks for more, drawn afresh (``./dev fuzz``: 500)."""

import os
from pathlib import Path

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

SPEC = Path(__file__).with_name("openai-responses.openapi.yaml")
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
# Every operation of the spec, which are all the gateway implements.
OPERATIONS = [
    ("/responses", "POST"),
    ("/responses/{response_id}", "GET"),
    ("/responses/{response_id}", "DELETE"),
    ("/responses/{response_id}/input_items", "GET"),
    ("/responses/{response_id}/cancel", "POST"),
    ("/responses/input_tokens", "POST"),
    ("/responses/compact", "POST"),
]


@pytest.fixture(scope="module")
def responses_api(stack):
    schema = schemathesis.openapi.from_dict(_as_openai_answers(yaml.safe_load(SPEC.read_text())))
    schema.config.update(
        base_url=f"{stack.api_url}/v1",
        headers={"Authorization": f"Bearer {stack.key_a}"},
        request_timeout=60,
    )
    return schema


def _as_openai_answers(spec: dict) -> dict:
    """The spec, except where its schemas contradict its own examples and OpenAI's API: a Response's
    ``user``, (until it completes) ``usage`` and a json_schema text format's unset ``description`` are
    null there, and in the gateway's answers too; and ``ItemField`` names a discriminator without a
    mapping, which strictly means each ``type`` value is a schema name ("CompactionBody"), so its items
    are matched by their schemas alone."""
    schemas = spec["components"]["schemas"]
    del schemas["ItemField"]["discriminator"]
    description = schemas["TextResponseFormatJsonSchema"]["properties"]["description"]
    description["type"] = ["string", "null"]
    schemas["ModelResponseProperties"]["properties"]["user"]["type"] = ["string", "null"]
    response = next(part for part in schemas["Response"]["allOf"] if "usage" in part.get("properties", {}))
    response["properties"]["usage"] = {"anyOf": [response["properties"]["usage"], {"type": "null"}]}
    return spec


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_server_errors_and_openai_shaped_answers(stack, responses_api, path, method):
    @given(case=responses_api[path][method].as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES or 40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not FUZZ_EXAMPLES,
    )
    def fuzz(case) -> None:
        if isinstance(case.body, dict) and "{response_id}" not in path:
            # A random or missing model, or no input, is always a 400; a real model and some input send
            # the rest of the body through the whole pipeline.
            case.body["model"] = "m1"
            if case.body.get("input") is None and not case.body.get("previous_response_id"):
                case.body["input"] = "fuzz"
        response = case.call()
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, error
            assert isinstance(error["message"], str) and isinstance(error["type"], str), error
        elif response.headers.get("content-type", [""])[0].startswith("application/json"):
            case.validate_response(response, checks=[response_schema_conformance])
            if (path, method) == ("/responses", "POST") and response.json()["store"]:
                _assert_retrievable(stack, response.json()["id"])

    fuzz()


def _assert_retrievable(stack, response_id: str) -> None:
    """An accepted, stored response is there to GET: never a 200 that 404s later."""
    retrieved = httpx.get(
        f"{stack.api_url}/v1/responses/{response_id}",
        headers={"Authorization": f"Bearer {stack.key_a}"},
        timeout=60,
    )
    assert retrieved.status_code == 200, retrieved.text

"""The api's checks of vendor fields against a deployment's list, and of reasoning blobs handed back."""

import base64
import json
import os

import pytest

from services.api.validation import check_encrypted_reasoning, check_request, parse_request
from shared import reasoning_blobs
from shared.config import GatewayConfig
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest
from shared.sealing import MasterKeys

CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {"name": "listed", "api_base": "http://a/v1", "model": "up", "extra_fields": ["top_k"]},
            {"name": "open", "api_base": "http://a/v1", "model": "up"},
        ]
    }
)
MASTER = MasterKeys(os.urandom(32))


def _request(**fields: object) -> ResponseCreateRequest:
    return ResponseCreateRequest.model_validate({"model": "listed", "input": "hi", **fields})


def test_a_vendor_field_the_deployment_does_not_list_is_a_400_naming_it() -> None:
    check_request(_request(top_k=3), CONFIG)
    with pytest.raises(InvalidRequest) as refused:
        check_request(_request(top_k=3, chat_template_kwargs={"x": 1}), CONFIG)
    assert refused.value.status == 400
    assert refused.value.code == "unsupported_parameter"
    assert refused.value.param == "chat_template_kwargs"
    assert "chat_template_kwargs" in refused.value.message


def test_a_deployment_without_a_list_takes_any_vendor_field() -> None:
    check_request(_request(model="open", chat_template_kwargs={"x": 1}, seed=1), CONFIG)


def test_fields_the_gateway_models_are_not_vendor_fields() -> None:
    # Accepted-and-ignored OpenAI fields (Codex's client_metadata) are no vendor fields either.
    check_request(_request(client_metadata={"a": "b"}, prompt_cache_key="k", temperature=1), CONFIG)


def _reasoning(blob: str) -> dict:
    return {"type": "reasoning", "summary": [], "encrypted_content": blob}


def _with_blob(blob: str) -> ResponseCreateRequest:
    body = {"model": "listed", "input": [{"role": "user", "content": "hi"}, _reasoning(blob)]}
    return parse_request(json.dumps(body).encode(), max_bytes=100_000)


def test_this_gateways_blob_for_this_project_passes() -> None:
    blob = reasoning_blobs.sealer(MASTER, "team-a")("thought")
    check_encrypted_reasoning(_with_blob(blob), reasoning_blobs.opener(MASTER, "team-a"))


@pytest.mark.parametrize(
    "blob",
    [
        reasoning_blobs.sealer(MASTER, "team-b")("thought"),  # another project's
        reasoning_blobs.sealer(MasterKeys(os.urandom(32)), "team-a")("thought"),  # another gateway's
        "gAAAAABo-openai-encrypted",  # OpenAI's own
        reasoning_blobs.PREFIX + ":x:" + base64.b64encode(b"short").decode(),
    ],
)
def test_a_foreign_or_made_up_blob_is_a_400_naming_the_item(blob: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_encrypted_reasoning(_with_blob(blob), reasoning_blobs.opener(MASTER, "team-a"))
    assert refused.value.status == 400
    assert refused.value.code == "invalid_encrypted_content"
    assert refused.value.param == "input[1].encrypted_content"

"""Vendor fields (the SDK's ``extra_body``) against a deployment that lists the ones its backend
accepts (``extra_fields``): those listed reach the backend, any other is a 400 naming it."""

import openai
import pytest

from deploy.local.mock_llm import MockLLM


def test_a_listed_vendor_field_reaches_the_backend(client: openai.OpenAI, mock_llm: MockLLM) -> None:
    response = client.responses.create(model="listed", input="hi", extra_body={"top_k": 7})
    assert response.status == "completed"
    (sent,) = [r["body"] for r in mock_llm.requests() if r["body"].get("model") == "mock-listed"]
    assert sent["top_k"] == 7
    # Codex's bookkeeping is accepted and never forwarded, listed or not.
    client.responses.create(model="listed", input="hi", extra_body={"client_metadata": {"x": "y"}})
    assert all("client_metadata" not in r["body"] for r in mock_llm.requests())


@pytest.mark.parametrize("stream", [False, True])
def test_an_unlisted_vendor_field_is_a_400_naming_it(
    client: openai.OpenAI, mock_llm: MockLLM, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="listed",
            input="hi",
            stream=stream,
            extra_body={"top_k": 7, "chat_template_kwargs": {"a": 1}},
        )
    error = refused.value.body
    assert error["code"] == "unsupported_parameter"
    assert error["param"] == "chat_template_kwargs"
    assert "chat_template_kwargs" in error["message"]
    assert mock_llm.requests() == []  # nothing was sent


def test_a_deployment_without_a_list_forwards_vendor_fields_as_before(
    client: openai.OpenAI, mock_llm: MockLLM
) -> None:
    client.responses.create(model="m1", input="hi", extra_body={"chat_template_kwargs": {"a": 1}})
    (sent,) = [r["body"] for r in mock_llm.requests()]
    assert sent["chat_template_kwargs"] == {"a": 1}

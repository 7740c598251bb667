"""A deployment's list of the vendor fields its backend accepts (``Deployment.extra_fields``)."""

from shared.config import GatewayConfig
from shared.domain.requests import build_chat_request
from shared.domain.routing import body_for, refused_vendor_fields
from shared.request_model import ResponseCreateRequest

CONFIG = GatewayConfig.model_validate(
    {
        "models": [
            {"name": "open", "api_base": "http://o/v1", "model": "o"},
            {
                "name": "vllm",
                "api_base": "http://a/v1",
                "model": "a",
                "extra_fields": ["top_k", "chat_template_kwargs"],
            },
            {"name": "vllm", "api_base": "http://b/v1", "model": "b", "extra_fields": ["top_k"]},
            {"name": "strict", "api_base": "http://s/v1", "model": "s", "extra_fields": []},
        ],
        "fallbacks": {"vllm": ["strict"]},
    }
)


def test_a_deployment_without_a_list_accepts_every_vendor_field() -> None:
    assert refused_vendor_fields(CONFIG, "open", ["top_k", "anything"]) == []


def test_every_deployment_of_the_model_must_accept_a_field() -> None:
    # `chat_template_kwargs` is on one of vllm's two lists only: either may serve the request.
    assert refused_vendor_fields(CONFIG, "vllm", ["top_k", "chat_template_kwargs", "seed"]) == [
        "chat_template_kwargs",
        "seed",
    ]
    assert refused_vendor_fields(CONFIG, "strict", ["top_k"]) == ["top_k"]
    assert refused_vendor_fields(CONFIG, "strict", []) == []


def _chat(**vendor: object) -> dict:
    request = ResponseCreateRequest.model_validate(
        {"model": "vllm", "input": "hi", "temperature": 0.5, **vendor}
    )
    return build_chat_request(request, [])


def test_a_fallback_is_sent_only_the_vendor_fields_on_its_list() -> None:
    chat = _chat(top_k=5)
    assert chat["top_k"] == 5  # the translator keeps what the client sent
    primary, fallback = CONFIG.deployments("vllm")[0], CONFIG.deployments("strict")[0]
    assert body_for(chat, primary, vendor_fields=["top_k"])["top_k"] == 5
    sent = body_for(chat, fallback, vendor_fields=["top_k"])
    assert "top_k" not in sent
    # The gateway's own fields stay.
    assert sent["temperature"] == 0.5 and sent["messages"] == chat["messages"]


def test_without_a_list_every_vendor_field_is_forwarded_as_today() -> None:
    chat = _chat(top_k=5, x_vendor={"a": 1})
    sent = body_for(chat, CONFIG.deployments("open")[0], vendor_fields=["top_k", "x_vendor"])
    assert sent["top_k"] == 5 and sent["x_vendor"] == {"a": 1}

"""A backend's error body, as real servers send it, reduced to status, type, code and a message with no
credential left in it: what reaches the client, the event log and the worker's log."""

import json

import httpx
import pytest

from shared import chatclient
from shared.config import Deployment
from shared.errors import BackendFailed, BackendRejected, BackendUnavailable, ContextLengthExceeded

KEY = "sk-proj-Q3v9XbL2mN8pR4tY6uW1zA5cE7gH0jK"
OWN_KEY = "a-deployment-key-of-no-known-shape"  # only its literal value gives it away
HEX_DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

OPENAI_BAD_KEY = {
    "error": {
        "message": f"Incorrect API key provided: {KEY}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
OPENAI_CONTEXT = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9001 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
VLLM_FLAT = {  # vLLM before 0.9: a flat error object
    "object": "error",
    "message": f"Unauthorized. Authorization: Bearer {KEY}",
    "type": "BadRequestError",
    "param": None,
    "code": 401,
}
VLLM_NESTED = {
    "error": {
        "message": "The model `llama` does not exist. api_key=hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }
}
LLAMA_CPP = {
    "error": {
        "code": 401,
        "message": f"Invalid API Key {OWN_KEY} (token={HEX_DIGEST})",
        "type": "authentication_error",
    }
}
OLLAMA = {
    "error": f'model "llama3" not found, try pulling it first; proxy https://admin:{OWN_KEY}@ollama:11434'
}
LITELLM = {
    "error": {
        "message": "Authentication Error, Invalid proxy server token passed. Received API Key = "
        f"sk-...{KEY[-4:]}, Key Hash (Token) ={HEX_DIGEST}",
        "type": "auth_error",
        "param": "None",
        "code": "401",
    }
}


def refusal(status: int, body: dict | str) -> BackendFailed:
    text = body if isinstance(body, str) else json.dumps(body)
    return chatclient.backend_error(status, text, secrets=[OWN_KEY])


@pytest.mark.parametrize(
    ("status", "body", "described"),
    [
        (
            401,
            OPENAI_BAD_KEY,
            "backend answered 401 (type invalid_request_error, code invalid_api_key): "
            "Incorrect API key provided: [redacted] You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
        ),
        (
            401,
            VLLM_FLAT,
            "backend answered 401 (type BadRequestError, code 401): "
            "Unauthorized. Authorization: [redacted] [redacted]",
        ),
        (
            404,
            VLLM_NESTED,
            "backend answered 404 (type NotFoundError, code 404): The model `llama` does not exist. "
            "api_key=[redacted]",
        ),
        (
            401,
            LLAMA_CPP,
            "backend answered 401 (type authentication_error, code 401): Invalid API Key [redacted] "
            "(token=[redacted]",
        ),
        (
            404,
            OLLAMA,
            'backend answered 404: model "llama3" not found, try pulling it first; proxy '
            "https://[redacted]@ollama:11434",
        ),
    ],
)
def test_error_bodies_are_reduced_and_scrubbed(status, body, described):
    """A refused key or an unknown model name is the gateway's configuration, never the client's key:
    told as such, and another deployment may serve (the routing's failover and cooldown)."""
    error = refusal(status, body)
    assert type(error) is BackendUnavailable and error.reason == str(status)
    assert error.message == f"The backend refused the gateway: {described}"


def test_no_credential_of_any_body_survives():
    bodies = [OPENAI_BAD_KEY, VLLM_FLAT, VLLM_NESTED, LLAMA_CPP, OLLAMA, LITELLM]
    for body in bodies:
        message = refusal(401, body).message
        assert KEY not in message and OWN_KEY not in message, message
        assert "hf_AbCd" not in message and HEX_DIGEST[:8] not in message, message


def test_the_context_length_refusal_keeps_its_message_and_becomes_a_client_error():
    error = refusal(400, OPENAI_CONTEXT)
    assert type(error) is ContextLengthExceeded and error.param == "input"
    assert error.message == OPENAI_CONTEXT["error"]["message"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_may_be_retried_elsewhere(status):
    error = refusal(status, {"error": {"message": f"busy, key {OWN_KEY}", "type": "server_error"}})
    assert isinstance(error, BackendUnavailable) and error.reason == str(status)
    assert error.message == f"backend answered {status} (type server_error): busy, key [redacted]"


def test_a_body_that_is_not_json_is_its_own_message_cut_short_at_a_word():
    page = "<html><body>502 Bad Gateway " + "x" * 40 + " " + f"Bearer {KEY} " * 100 + "</body></html>"
    error = refusal(502, page)
    assert error.message.startswith("backend answered 502: <html><body>502 Bad Gateway xxx")
    assert KEY not in error.message and len(error.message) < 600


# Recorded error bodies of the servers people run: (server, status, body, the error it becomes).
RECORDED = [
    (
        "vLLM",
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 "
            "tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the "
            "messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        ContextLengthExceeded,
    ),
    (
        "SGLang",
        400,
        {
            "object": "error",
            "message": "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        ContextLengthExceeded,
    ),
    (
        "llama.cpp",
        400,
        {
            "error": {
                "code": 400,
                "message": "request (9073 tokens) exceeds the available context size (8192 tokens), try "
                "increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 9073,
                "n_ctx": 8192,
            }
        },
        ContextLengthExceeded,
    ),
    (
        "TGI",
        422,
        {
            "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: "
            "4000 `inputs` tokens and 1000 `max_new_tokens`",
            "error_type": "validation",
        },
        ContextLengthExceeded,
    ),
    ("Ollama", 400, {"error": "input length exceeds maximum context length"}, ContextLengthExceeded),
    ("OpenAI", 400, OPENAI_CONTEXT, ContextLengthExceeded),
    (
        "OpenAI",
        400,
        {
            "error": {
                "message": "Unrecognized request argument supplied: client_metadata",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
        BackendRejected,
    ),
    (
        "vLLM",
        400,
        {
            "object": "error",
            "message": "temperature must be <= 2, got 3.0",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        BackendRejected,
    ),
    (
        "TGI",
        422,
        {"error": "Input validation error: `top_p` must be > 0.0 and < 1.0", "error_type": "validation"},
        BackendRejected,
    ),
    ("OpenAI", 401, OPENAI_BAD_KEY, BackendUnavailable),
    ("Ollama", 404, OLLAMA, BackendUnavailable),
    (
        "vLLM",
        503,
        {"object": "error", "message": "Service Unavailable", "type": "ServiceUnavailableError", "code": 503},
        BackendUnavailable,
    ),
    (
        "OpenAI",
        429,
        {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
        BackendUnavailable,
    ),
]


@pytest.mark.parametrize(("server", "status", "body", "becomes"), RECORDED)
def test_recorded_refusals_of_real_servers_map_to_what_openai_would_answer(server, status, body, becomes):
    """A prompt over the context window is the client's 400 context_length_exceeded (Codex stops instead
    of retrying); another refusal of the request is the client's 400 with the backend's words; a refused
    key, an unknown model, overload and server errors are the gateway's, tried elsewhere."""
    error = refusal(status, body)
    assert type(error) is becomes, server
    if becomes is not BackendUnavailable:
        assert (error.status, error.type) == (400, "invalid_request_error")
        assert error.code == ("context_length_exceeded" if becomes is ContextLengthExceeded else None)


def test_odd_json_bodies_still_give_a_message():
    assert refusal(400, [1, 2]).message == "backend answered 400: [1, 2]"
    assert refusal(400, {"detail": "no such route"}).message == "backend answered 400: no such route"
    assert refusal(400, {"error": {"code": {"nested": 1}}}).message.startswith("backend answered 400: {")


async def test_the_deployment_key_sent_is_scrubbed_from_the_refusal(monkeypatch):
    monkeypatch.setenv("TEST_BACKEND_KEY", OWN_KEY)
    deployment = Deployment(
        name="m", api_base="http://backend/v1", model="up", api_key_env="TEST_BACKEND_KEY"
    )

    def echo_the_key(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(403, json={"error": {"message": f"key {sent} lacks access", "code": "denied"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(echo_the_key)) as client:
        with pytest.raises(BackendFailed) as raised:
            async for _ in chatclient.chat_chunks(client, deployment, {"messages": [], "stream": True}):
                pass
    assert raised.value.message == (
        "The backend refused the gateway: backend answered 403 (code denied): key [redacted] lacks access"
    )

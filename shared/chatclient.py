"""Talking to Chat Completions backends over one pooled httpx client: streamed chat calls and the
tokenize endpoint. Only the worker calls it (its runs, and the api's ``compact`` and ``input_tokens``
sent to it over request/reply), so only the worker holds backend keys."""

import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pydantic_core

from shared import http11
from shared.config import Deployment
from shared.domain import completions
from shared.errors import (
    BackendFailed,
    BackendRejected,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
)
from shared.redaction import clip, redact

# How the backends people run say a prompt is over the context window (tests/unit/shared/
# test_chatclient_errors.py holds their bodies): OpenAI and vLLM, SGLang, llama.cpp's server, TGI, Ollama.
_CONTEXT_LENGTH_HINTS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "exceed_context_size_error",
    "exceeds the available context size",
    "`max_new_tokens` must be <=",
    "input length exceeds",
)
# How much of an error body is read, and how much of its message is kept.
_MAX_ERROR_BODY = 64 * 1024
_MAX_MESSAGE = 500
# A backend refusing the request itself (a bad parameter, a prompt over its context).
_CLIENT_ERRORS = (400, 413, 422)
_MAX_LABEL = 64
_TOKENIZE_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)


def new_client(pool: Callable[[], httpx.AsyncBaseTransport] = http11.Pool) -> httpx.AsyncClient:
    """One client for every backend: keep-alive connections pooled per backend, each pool made by
    ``pool`` (``http11.Pool``; a benchmark passes httpx's own transport to compare)."""
    return httpx.AsyncClient(transport=PoolPerOrigin(pool), timeout=httpx.Timeout(600.0, connect=10.0))


class PoolPerOrigin(httpx.AsyncBaseTransport):
    """A connection pool of its own for each origin (scheme, host, port): an ``http11.Pool`` holds one
    origin's connections, and a backend's thousand held streams do not take the connections that
    calls to another one wait for."""

    def __init__(self, new_pool: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._new_pool = new_pool
        self._pools: dict[tuple[bytes, bytes, int | None], httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port)
        if (pool := self._pools.get(origin)) is None:
            pool = self._pools[origin] = self._new_pool()
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


async def chat_chunks(
    client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Yield the parsed ``chat.completion.chunk`` objects of one call: as they stream, or, for a body
    that does not ask to stream, those that would have streamed its whole answer
    (``completions.as_chunks``). Not streaming spares the worker a read and a wake-up a token where
    nobody watches the tokens (a foreground non-stream response).

    Raises ``BackendFailed`` (or ``ContextLengthExceeded``) when the backend refuses or breaks off."""
    key = _key(deployment)
    request = httpx.Request(
        "POST",
        deployment.api_base.rstrip("/") + "/chat/completions",
        headers={**client.headers, "Content-Type": "application/json", **_authorization(key)},
        # Encoded by pydantic-core rather than httpx's json.dumps: a long chain's body is all history.
        content=pydantic_core.to_json(body),
        extensions={"timeout": httpx.Timeout(deployment.timeout_s).as_dict()},
    )
    try:
        reply = await _sent(client, request)
        try:
            if reply.status_code >= 400:
                raise backend_error(reply.status_code, await _error_body(reply), secrets=[key or ""])
            # A backend may stream all the same, whatever the body asked.
            if not body.get("stream") and "event-stream" not in reply.headers.get("content-type", ""):
                for chunk in completions.as_chunks(json.loads(await reply.aread())):
                    yield chunk
                return
            async for data in _sse_data(reply.aiter_raw()):
                # Read on past [DONE] to the end of the body: a response left unread closes its
                # connection instead of returning it to the pool.
                if data != b"[DONE]":
                    yield json.loads(data)
        finally:
            await reply.aclose()
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        raise BackendUnavailable(f"backend {deployment.id!r} unreachable: {reason}", reason=reason) from exc


async def tokenize(client: httpx.AsyncClient, deployment: Deployment, chat: dict[str, Any]) -> int | None:
    """The backend's own count of ``chat``'s input (vLLM / SGLang ``POST /tokenize``), or None if the
    deployment names no tokenizer or it could not give one: a count is advice, and the estimate
    stands in."""
    if not deployment.tokenize_url:
        return None
    request: dict[str, Any] = {"model": deployment.model, "messages": chat["messages"]}
    if chat.get("tools"):
        request["tools"] = chat["tools"]
    headers = _authorization(_key(deployment))
    try:
        reply = await client.post(
            deployment.tokenize_url, json=request, headers=headers, timeout=_TOKENIZE_TIMEOUT_S
        )
        reply.raise_for_status()
        return int(reply.json()["count"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("tokenize on %r failed (%s); estimating instead", deployment.id, type(exc).__name__)
        return None


async def _sent(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """``request`` sent by the transport ``client`` uses for its URL (its pool; a proxy the
    environment names), past the client's own layers: auth flows, redirects, cookies and event
    hooks, none of which a backend call uses, cost a third of its CPU (bench/README.md). The reply
    streams; the caller closes it."""
    # httpx's lookup of its mounts: private, and the same since 0.18.
    transport = client._transport_for_url(request.url)
    return await transport.handle_async_request(request)


def _key(deployment: Deployment) -> str | None:
    return os.environ.get(deployment.api_key_env) if deployment.api_key_env else None


def _authorization(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


async def _sse_data(raw: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The ``data:`` fields of a server-sent event stream. Split on bytes as they arrive: httpx's
    text line iterator costs more than the rest of a chunk's journey through the worker."""
    pending = b""
    async for block in raw:
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if pending.startswith(b"data:"):
        yield pending[5:].strip()


async def _error_body(reply: httpx.Response) -> str:
    """The start of an error body: a backend answering an error with megabytes must not cost them."""
    body = b""
    async for block in reply.aiter_bytes():
        body += block
        if len(body) >= _MAX_ERROR_BODY:
            break
    return body[:_MAX_ERROR_BODY].decode(errors="replace")


def backend_error(status: int, text: str, *, secrets: list[str]) -> BackendFailed | InvalidRequest:
    """A backend's refusal reduced to its status, type, code and message, with anything that looks
    like a credential (``secrets``, the deployment's own key, first) taken out: a backend may echo
    the key it was sent, and what this returns reaches the client, the log and the stored response."""
    kind, code, message = _error_fields(text)
    message = redact(clip(message, _MAX_MESSAGE), secrets)
    if status in _CLIENT_ERRORS and any(hint in text.lower() for hint in _CONTEXT_LENGTH_HINTS):
        return ContextLengthExceeded(message, param="input")
    labels = [
        f"{name} {redact(clip(str(value), _MAX_LABEL), secrets)}"
        for name, value in (("type", kind), ("code", code))
        if isinstance(value, str | int) and str(value)
    ]
    described = f"backend answered {status}" + (f" ({', '.join(labels)})" if labels else "")
    if status in _CLIENT_ERRORS:
        return BackendRejected(f"{described}: {message}")
    if status in (401, 403, 404):
        # The gateway's key or its configured model name, not the client's: another deployment may
        # serve, and a client is never told its own key was wrong.
        return BackendUnavailable(
            f"The backend refused the gateway: {described}: {message}", reason=str(status)
        )
    if status == 429 or status >= 500:
        return BackendUnavailable(f"{described}: {message}", reason=str(status))
    return BackendFailed(f"{described}: {message}")


def _error_fields(text: str) -> tuple[Any, Any, str]:
    """Type, code and message of the error bodies backends send: OpenAI's, vLLM's and llama.cpp's
    ``{"error": {...}}``, older vLLM's flat ``{"object": "error", "message", ...}``, Ollama's and
    TGI's ``{"error": "..."}``; any other body is its own message."""
    try:
        body = json.loads(text)
    except ValueError:
        return None, None, text
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, str):
        return body.get("error_type"), None, error
    if not isinstance(error, dict):
        return None, None, text
    message = error.get("message") or error.get("detail")
    return error.get("type"), error.get("code"), message if isinstance(message, str) else text

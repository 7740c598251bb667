"""Talking to Chat Completions backends over one pooled httpx client."""

import json
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx

from shared.config import Deployment
from shared.errors import BackendFailed, BackendUnavailable, ContextLengthExceeded

_CONTEXT_LENGTH_HINTS = ("context_length_exceeded", "maximum context length", "context length")


def new_client() -> httpx.AsyncClient:
    """One client for every backend: pooled keep-alive connections with Nagle off, since a stream
    of small chunks is latency-bound."""
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
    )
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(600.0, connect=10.0))


async def stream_chat(
    client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Yield the parsed ``chat.completion.chunk`` objects of one streamed call.

    Raises ``BackendFailed`` (or ``ContextLengthExceeded``) when the backend refuses or breaks off."""
    headers = {}
    if deployment.api_key_env and (key := os.environ.get(deployment.api_key_env)):
        headers["Authorization"] = f"Bearer {key}"
    url = deployment.api_base.rstrip("/") + "/chat/completions"
    try:
        async with client.stream(
            "POST", url, json=body, headers=headers, timeout=deployment.timeout_s
        ) as reply:
            if reply.status_code >= 400:
                raise _backend_error(reply.status_code, (await reply.aread()).decode(errors="replace"))
            async for data in _sse_data(reply.aiter_raw()):
                # Read on past [DONE] to the end of the body: a response left unread closes its
                # connection instead of returning it to the pool.
                if data != b"[DONE]":
                    yield json.loads(data)
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        raise BackendUnavailable(f"backend {deployment.id!r} unreachable: {reason}", reason=reason) from exc


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


def _backend_error(status: int, text: str) -> BackendFailed:
    try:
        message = json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = text[:500]
    if status == 400 and any(hint in text.lower() for hint in _CONTEXT_LENGTH_HINTS):
        return ContextLengthExceeded(message, param="input")
    if status == 429 or status >= 500:
        return BackendUnavailable(f"backend answered {status}: {message}", reason=str(status))
    return BackendFailed(f"backend answered {status}: {message}")

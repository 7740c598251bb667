"""The worker's client of remote MCP servers (streamable HTTP, the official ``mcp`` SDK): list a server's
tools, call one. Each operation opens its own session, is bounded by ``McpPolicy.timeout_s`` as a whole,
and never raises for what the server did: a failure comes back as the ``error`` of an ``mcp_call``
item (OpenAI's ``MCPToolCallError`` shapes) or of an ``mcp_list_tools`` item.

The client's ``headers`` and ``authorization`` are sent to the server and nowhere else: no log line or
error message here holds them. Every connection is checked after it is made, on the address it reached
(``_GuardedBackend``): the api checked the host when the request came, but a host may resolve
differently by now (DNS rebinding), and a redirect is followed only within the server's origin (the
SDK's rule).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpcore2
import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent

from shared.config import McpPolicy
from shared.domain import mcp_urls
from shared.request_model import McpTool

log = logging.getLogger(__name__)


class Refused(httpcore2.ConnectError):
    """A server the policy does not (or no longer) allow, or an address it must not reach."""


@dataclass(frozen=True)
class Outcome:
    """One call's result: ``output`` (text) or ``error`` (an ``MCPToolCallError`` object)."""

    output: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class Listing:
    """A server's tools as ``mcp_list_tools`` shows them, or why they could not be listed."""

    tools: list[dict[str, Any]]
    error: str | None = None


async def list_tools(server: McpTool, policy: McpPolicy) -> Listing:
    statuses: list[int] = []
    try:
        async with asyncio.timeout(policy.timeout_s):
            async with _connected(server, policy, statuses) as client:
                listed, cursor = [], None
                while True:
                    page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                    listed += page.tools
                    if not (cursor := page.next_cursor):
                        break
    except Exception as error:  # whatever the server or network did, the response goes on
        return Listing(tools=[], error=_problem(error, policy, statuses)["message"])
    return Listing(tools=[_listed(tool) for tool in listed])


async def call_tool(server: McpTool, name: str, arguments: dict[str, Any], policy: McpPolicy) -> Outcome:
    statuses: list[int] = []
    try:
        async with asyncio.timeout(policy.timeout_s):
            async with _connected(server, policy, statuses) as client:
                result = await client.call_tool(name, arguments)
    except Exception as error:  # whatever the server or network did, the model is told and goes on
        return Outcome(error=_problem(error, policy, statuses))
    return _outcome(result)


@contextlib.asynccontextmanager
async def _connected(server: McpTool, policy: McpPolicy, statuses: list[int]) -> AsyncIterator[Client]:
    """A session with ``server``; ``statuses`` collects the HTTP error statuses it gets, which the SDK
    reports only as an internal JSON-RPC error."""
    url = str(server.server_url)
    # The api checked it; a config changed since (the server taken off the list) is obeyed all the same.
    if not mcp_urls.allowed(mcp_urls.target(url), policy.patterns()):
        raise Refused("the server is not in mcp.allowed_servers")

    async def noted(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            statuses.append(response.status_code)

    async with httpx2.AsyncClient(
        headers=_headers(server),
        timeout=httpx2.Timeout(policy.timeout_s),
        transport=_guarded_transport(policy),
        event_hooks={"response": [noted]},
        # The environment's proxy would connect on the gateway's behalf, past the address check.
        trust_env=False,
    ) as http:
        # `cache=None`: listings are cached per response chain, by its items (shared/domain/mcp.py).
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, read_timeout_seconds=policy.timeout_s, cache=None) as client:
            yield client


def _headers(server: McpTool) -> dict[str, str]:
    headers = dict(server.headers or {})
    if server.authorization:
        headers["Authorization"] = f"Bearer {server.authorization}"
    return headers


def _guarded_transport(policy: McpPolicy) -> httpx2.AsyncHTTPTransport:
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    # httpx2 builds its pool from its own arguments, which cannot name a network backend; this pool is
    # the same with every connection checked (tests/contract/worker/test_mcp_client.py proves it holds).
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=httpx2.create_ssl_context(trust_env=False),
        network_backend=_GuardedBackend(policy.networks()),
    )
    return transport


class _GuardedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, networks: list[mcp_urls.Network]) -> None:
        self._inner = httpcore2.AnyIOBackend()
        self._networks = networks

    async def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, *args, **kwargs)
        peer = stream.get_extra_info("server_addr")
        address = mcp_urls.ip(peer[0]) if peer else None
        if address is None or mcp_urls.refused_address(address, self._networks):
            await stream.aclose()
            raise Refused(f"the server's host {host} reached {address}, a private address")
        return stream

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _listed(tool: Any) -> dict[str, Any]:
    annotations = (
        tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
        if (tool.annotations)
        else None
    )
    return {
        "name": tool.name,
        "input_schema": tool.input_schema,
        "description": tool.description,
        "annotations": annotations,
    }


def _outcome(result: CallToolResult) -> Outcome:
    if result.is_error:
        return Outcome(error={"type": "mcp_tool_execution_error", "content": _blocks(result)})
    return Outcome(output=_text(result))


def _text(result: CallToolResult) -> str:
    """The result as the model reads it: its text blocks, else its structured content as JSON, else
    every block as JSON (an image, a resource)."""
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if texts:
        return "\n".join(texts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content)
    return json.dumps(_blocks(result))


def _blocks(result: CallToolResult) -> list[dict[str, Any]]:
    return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]


def _problem(error: BaseException, policy: McpPolicy, statuses: list[int]) -> dict[str, Any]:
    """What went wrong, as an ``MCPToolCallError`` whose message holds nothing the client sent."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if refused := _refusal(error):
        return {"type": "http_error", "code": 403, "message": f"Not connected: {refused}."}
    if statuses:
        status = statuses[-1]
        return {"type": "http_error", "code": status, "message": f"The MCP server answered HTTP {status}."}
    if isinstance(error, MCPError):
        return {"type": "mcp_protocol_error", "code": error.code, "message": error.message}
    if isinstance(error, TimeoutError):
        message = f"The MCP server did not answer within {policy.timeout_s:g}s."
        return {"type": "http_error", "code": 504, "message": message}
    if isinstance(error, httpx2.TransportError | OSError):
        message = f"The MCP server could not be reached ({type(error).__name__})."
        return {"type": "http_error", "code": 502, "message": message}
    log.warning("an MCP operation failed: %s", type(error).__name__)
    return {"type": "http_error", "code": 502, "message": f"The MCP server failed ({type(error).__name__})."}


def _refusal(error: BaseException | None) -> Refused | None:
    """The address check's refusal, under whatever httpx2 wrapped it in."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, Refused):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None

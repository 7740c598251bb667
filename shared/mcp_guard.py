"""The api's check of a request's ``mcp`` tools, before anything is logged or run: each names a server
the operator allowed (``McpPolicy``, ``shared/domain/mcp_urls.py``), whose host resolves only to
addresses the gateway may reach. A refusal is a 400 naming ``tools[i].server_url``.

The worker checks again where it connects, on the address it actually connected to
(``services/worker/mcp_client.py``): a host may resolve differently by then (DNS rebinding).
"""

import asyncio
import socket

from shared.config import McpPolicy
from shared.domain import mcp_urls
from shared.errors import InvalidRequest
from shared.request_model import McpTool, Tool

# Resolving a client's host is bounded: a slow resolver must not hold the request.
RESOLVE_TIMEOUT_S = 5.0


async def check_tools(tools: list[Tool], policy: McpPolicy) -> None:
    for index, tool in enumerate(tools):
        if isinstance(tool, McpTool):
            await check_tool(tool, policy, param=f"tools[{index}]")


async def check_tool(tool: McpTool, policy: McpPolicy, *, param: str) -> None:
    for field in ("connector_id", "tunnel_id"):
        if getattr(tool, field, None) is not None:
            raise InvalidRequest(
                f"MCP '{field}' is OpenAI's own service and not supported by this gateway; name the "
                "server by 'server_url'.",
                param=f"{param}.{field}",
                code="unsupported_parameter",
            )
    if tool.server_url is None:
        raise InvalidRequest(
            f"Missing required parameter: '{param}.server_url'.",
            param=f"{param}.server_url",
            code="missing_required_parameter",
        )
    await check_server_url(tool.server_url, policy, param=f"{param}.server_url")


async def check_server_url(url: str, policy: McpPolicy, *, param: str) -> None:
    try:
        target = mcp_urls.target(url)
    except mcp_urls.BadUrl as error:
        raise InvalidRequest(f"Invalid '{param}': {error}.", param=param, code="invalid_value") from None
    if not mcp_urls.allowed(target, policy.patterns()):
        raise InvalidRequest(
            f"The MCP server '{url}' is not allowed by this gateway's configuration (mcp.allowed_servers).",
            param=param,
            code="mcp_server_not_allowed",
        )
    addresses = await resolve(target.host, target.port)
    if not addresses:
        raise InvalidRequest(f"The MCP server's host '{target.host}' could not be resolved.", param=param)
    networks = policy.networks()
    if refused := [a for a in addresses if mcp_urls.refused_address(a, networks)]:
        raise InvalidRequest(
            f"The MCP server's host '{target.host}' resolves to {refused[0]}, a private address this "
            "gateway does not connect to (mcp.allowed_networks).",
            param=param,
            code="mcp_server_not_allowed",
        )


async def resolve(host: str, port: int) -> list[mcp_urls.Address]:
    """Every address ``host`` resolves to (none if it does not resolve in time)."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return []
    return list({mcp_urls.ip(info[4][0]) for info in infos})

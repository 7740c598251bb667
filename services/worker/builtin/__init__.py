"""The built-in tools this worker runs, by Responses tool type, as configured: ``executors`` builds
them once at start (a configured provider whose key is missing stops the start: fail closed)."""

from collections.abc import Mapping

import httpx

from services.worker.builtin import mcp, search
from services.worker.builtin.base import Executor
from services.worker.builtin.websearch import WebSearch
from shared.config import GatewayConfig, tool_api_key


def executors(
    config: GatewayConfig,
    client: httpx.AsyncClient,
    environ: Mapping[str, str],
    requests: mcp.Requests | None = None,
) -> dict[str, Executor]:
    """Executor by the ``HostedTool.type`` it runs. ``requests`` reads a response's request from the
    log (MCP reads the client's server credentials there); without it MCP tools are not run."""
    found: dict[str, Executor] = {}
    if config.mcp.allowed_servers and requests is not None:
        found["mcp"] = mcp.Mcp(config.mcp, mcp.secrets_in(requests))
    if (web := config.tools.web_search) is not None:
        found["web_search"] = WebSearch(search.provider(client, web, tool_api_key(web, environ)))
    return found

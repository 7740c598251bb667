"""The api's check of a request's MCP tools: what the operator allowed, on IP literals (no resolver)."""

import pytest

from shared import mcp_guard
from shared.config import McpPolicy
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest

POLICY = McpPolicy(
    allowed_servers=["http://127.0.0.1:*/mcp", "http://10.1.2.3/mcp"], allowed_networks=["127.0.0.0/8"]
)


def _tools(*tools: dict) -> list:
    return ResponseCreateRequest.model_validate({"model": "m", "input": "x", "tools": list(tools)}).tools


async def test_an_allowed_server_passes():
    await mcp_guard.check_tools(
        _tools({"type": "mcp", "server_label": "a", "server_url": "http://127.0.0.1:9/mcp"}), POLICY
    )


@pytest.mark.parametrize(
    ("tool", "param", "code"),
    [
        ({"server_url": "http://127.0.0.2:9/mcp"}, "tools[1].server_url", "mcp_server_not_allowed"),
        ({"server_url": "http://10.1.2.3/mcp"}, "tools[1].server_url", "mcp_server_not_allowed"),
        ({"server_url": "file:///etc/passwd"}, "tools[1].server_url", "invalid_value"),
        ({}, "tools[1].server_url", "missing_required_parameter"),
        ({"connector_id": "connector_gmail"}, "tools[1].connector_id", "unsupported_parameter"),
    ],
)
async def test_anything_else_is_a_400_naming_the_tool(tool, param, code):
    tools = _tools({"type": "function", "name": "f"}, {"type": "mcp", "server_label": "a", **tool})
    with pytest.raises(InvalidRequest) as refused:
        await mcp_guard.check_tools(tools, POLICY)
    assert (refused.value.param, refused.value.code) == (param, code)


async def test_no_allow_list_allows_nothing():
    tools = _tools({"type": "mcp", "server_label": "a", "server_url": "https://mcp.example.com/mcp"})
    with pytest.raises(InvalidRequest, match="not allowed"):
        await mcp_guard.check_tools(tools, McpPolicy())

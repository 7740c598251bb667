"""The worker's MCP client against a real MCP server on loopback (``tests/mcp_server.py``): what it lists
and calls, how each failure comes back as an item's error (never an exception), and the address check
it makes on every connection, whatever the api checked before."""

from collections.abc import Iterator

import pytest
from mcp_server import LoopbackMcpServer, running

from services.worker import mcp_client
from shared.config import McpPolicy
from shared.request_model import McpTool

TOKEN = "t0ken"
LOOPBACK = McpPolicy(
    allowed_servers=["http://127.0.0.1:*/mcp"], allowed_networks=["127.0.0.0/8"], timeout_s=2
)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackMcpServer]:
    with running(token=TOKEN) as started:
        yield started


def _tool(url: str, **fields) -> McpTool:
    return McpTool.model_validate(
        {"type": "mcp", "server_label": "calc", "server_url": url, "authorization": TOKEN, **fields}
    )


async def test_it_lists_the_tools_with_their_schemas_and_annotations(server):
    listing = await mcp_client.list_tools(_tool(server.url), LOOPBACK)
    assert listing.error is None
    tools = {tool["name"]: tool for tool in listing.tools}
    assert set(tools) == {"add", "lookup", "slow", "hold", "crash"}
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert tools["add"]["description"] == "Add two integers."
    assert tools["lookup"]["annotations"] == {"readOnlyHint": True}


async def test_it_calls_a_tool_with_the_clients_headers(server):
    server.reset()
    outcome = await mcp_client.call_tool(
        _tool(server.url, headers={"X-Trace": "t-1"}), "add", {"a": 2, "b": 3}, LOOPBACK
    )
    assert outcome == mcp_client.Outcome(output="5")
    assert server.calls == [("add", {"a": 2, "b": 3})]
    assert all(r["authorization"] == f"Bearer {TOKEN}" and r["x-trace"] == "t-1" for r in server.requests)


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("crash", {}, {"type": "mcp_tool_execution_error"}),
        ("lookup", {"key": "nowhere"}, {"type": "mcp_tool_execution_error"}),
        ("nosuch", {}, {"type": "mcp_tool_execution_error"}),
        ("slow", {"seconds": 20}, {"type": "http_error", "code": 504}),
    ],
)
async def test_a_failed_call_is_its_error(server, name, arguments, error):
    outcome = await mcp_client.call_tool(_tool(server.url), name, arguments, LOOPBACK)
    assert outcome.output is None and error.items() <= outcome.error.items()


async def test_a_refused_token_and_an_absent_server_are_errors(server):
    refused = await mcp_client.list_tools(_tool(server.url, authorization="wrong"), LOOPBACK)
    assert (refused.tools, refused.error) == ([], "The MCP server answered HTTP 401.")
    outcome = await mcp_client.call_tool(_tool(server.url, authorization="wrong"), "add", {}, LOOPBACK)
    assert outcome.error == {
        "type": "http_error",
        "code": 401,
        "message": "The MCP server answered HTTP 401.",
    }
    closed = server.url.replace(str(server.port), "1")
    assert "could not be reached" in (await mcp_client.list_tools(_tool(closed), LOOPBACK)).error


async def test_every_connection_is_checked_where_it_lands(server):
    # The api let the URL through, but the address it reaches is not in an allowed network (a host
    # that resolved elsewhere when the api checked it): nothing is sent.
    server.reset()
    public_only = McpPolicy(allowed_servers=["http://127.0.0.1:*/mcp"], timeout_s=2)
    outcome = await mcp_client.call_tool(_tool(server.url), "add", {"a": 1, "b": 1}, public_only)
    assert outcome.error["code"] == 403 and "private address" in outcome.error["message"]
    assert server.requests == [] and server.calls == []


async def test_a_server_taken_off_the_list_is_not_reached(server):
    server.reset()
    elsewhere = McpPolicy(allowed_servers=["https://mcp.example.com/mcp"], allowed_networks=["127.0.0.0/8"])
    listing = await mcp_client.list_tools(_tool(server.url), elsewhere)
    assert "not in mcp.allowed_servers" in listing.error and server.requests == []

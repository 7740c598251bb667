"""The ``mcp`` executor: lists a server's tools (an ``mcp_list_tools`` item; its tools are offered to the
model from then on), and runs the model's calls of them (``mcp_call`` items), unless a call needs the
client's approval first: then it shows an ``mcp_approval_request`` and the response ends, to go on in
the client's next request (``shared/domain/mcp.py``).

The client's ``headers`` and ``authorization`` travel in no loop event: each step reads them from the
response's request in the log, which holds them sealed (``secrets``)."""

from collections.abc import Awaitable, Callable
from typing import Protocol

from services.worker import mcp_client
from services.worker.builtin.base import StepContext, StepResult
from shared.config import McpPolicy
from shared.domain import mcp
from shared.events import HostedCall, HostedTool, ResponseRequested
from shared.request_model import McpTool

# The request's MCP tool of a server, secrets included, by response id and server label.
Secrets = Callable[[str, str], Awaitable[McpTool | None]]


class Requests(Protocol):
    async def request(self, response_id: str) -> ResponseRequested | None: ...


def secrets_in(log: Requests) -> Secrets:
    """``Secrets`` read from the requests in the log (``logged.JetStreamLog``)."""

    async def server(response_id: str, server_label: str) -> McpTool | None:
        requested = await log.request(response_id)
        return mcp.servers(requested.request.tools).get(server_label) if requested is not None else None

    return server


class Mcp:
    def __init__(self, policy: McpPolicy, secrets: Secrets) -> None:
        self._policy = policy
        self._secrets = secrets

    async def run(self, call: HostedCall, hosted: HostedTool, step: StepContext) -> StepResult:
        label = hosted.tool["server_label"]
        server = await self._secrets(step.call.response_id, label)
        if server is None:  # the request names no such server: only a forged step could
            return StepResult(message=f"The MCP server {label!r} is not available.", counts=False)
        if call.name.startswith(mcp.LIST_PREFIX):
            return await self._list(server, step)
        return await self._call(server, call, hosted, step)

    async def _list(self, server: McpTool, step: StepContext) -> StepResult:
        listing = await mcp_client.list_tools(server, self._policy)
        # The item shows what the model is offered: the tools `allowed_tools` lets through.
        shown = [tool for tool in listing.tools if mcp.allowed(server, tool)]
        await step.emit(mcp.listing_events(step.state, server.server_label, shown, listing.error))
        offered = mcp.offered(server, {"tools": shown})
        return StepResult(message=None, functions=mcp.chat_functions(offered), hosted=offered, counts=False)

    async def _call(
        self, server: McpTool, call: HostedCall, hosted: HostedTool, step: StepContext
    ) -> StepResult:
        listed, approval = hosted.tool["mcp_tool"], hosted.tool.get("approval")
        state, label, name = step.state, server.server_label, hosted.tool["mcp_tool"]["name"]
        if approval is None and mcp.needs_approval(server, listed):
            await step.emit(mcp.approval_events(state, label, name, call.arguments))
            return StepResult(message=None, pause=True)
        index, events = mcp.call_opened(state, label, name, call.arguments, approval)
        await step.emit(events)
        try:
            arguments = mcp.arguments_of(call.arguments)
        except ValueError as error:  # the model's mistake: the server is not bothered with it
            outcome = mcp_client.Outcome(
                error={"type": "mcp_protocol_error", "code": -32602, "message": str(error)}
            )
        else:
            outcome = await mcp_client.call_tool(server, name, arguments, self._policy)
        await step.emit(mcp.call_closed(state, index, outcome.output, outcome.error))
        return StepResult(message=mcp.result_text(outcome.output, outcome.error))

"""Remote MCP tools, as OpenAI runs them: the model is offered a server's tools as functions, and the
gateway lists and calls them (``services/worker/builtin/mcp.py``, over ``services/worker/mcp_client.py``).
Pure: which tools are offered, whether a call needs the client's approval, the output items and
stream events, and what the model reads back.

- Listing: a server's tools are listed once per response chain, as OpenAI does: an ``mcp_list_tools``
  item already in the chain for the same ``server_label`` is reused, not fetched again. A listing that
  failed (its item has an ``error``) is not reused.
- ``allowed_tools``: a list of names, or a filter (``tool_names``, ``read_only`` by the tool's
  ``readOnlyHint``); the model is offered only those, and the listing item shows only those.
- ``require_approval``: ``"always"`` (also the default, as OpenAI's), ``"never"``, or a filter object:
  a tool matched by ``never`` runs without approval, one matched by ``always`` needs it; a tool matched
  by neither needs it, unless only ``always`` was given. A call that needs approval ends the response
  with an ``mcp_approval_request`` item; the client answers in its next request (by
  ``previous_response_id``) with an ``mcp_approval_response``: approved, the call runs before the model
  continues; denied, the model is told the user declined it.
- A client's ``headers`` and ``authorization`` never leave the request (``McpTool.public``): the
  Response echoes the tool without them, and no loop event carries them.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain import builtin_tools, stream
from shared.events import ChatCallRequested, HostedCall, HostedTool, ToolCallsRequested
from shared.ids import derived_id
from shared.request_model import McpTool, McpToolFilter

Item = dict[str, Any]
Event = dict[str, Any]

TYPE = "mcp"
# A listing is a step the gateway starts itself, named as a call of this reserved function.
LIST_PREFIX = "mcp_list_tools:"
# An approved call runs as a call of this reserved function, named after its approval request.
APPROVED_PREFIX = "mcp_approved:"
# Chat Completions' function names: ^[a-zA-Z0-9_-]{1,64}$.
_NAME_MAX = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
DECLINED = "The user declined to run this tool call."


# The tool config ---------------------------------------------------------------------------------


def servers(tools: Iterable[Any]) -> dict[str, McpTool]:
    """The request's MCP tools by ``server_label``."""
    return {tool.server_label: tool for tool in tools if isinstance(tool, McpTool)}


def _matches(rule: McpToolFilter | None, listed: Mapping[str, Any]) -> bool:
    if rule is None:
        return False
    if rule.tool_names is not None and listed["name"] not in rule.tool_names:
        return False
    read_only = bool((listed.get("annotations") or {}).get("readOnlyHint"))
    return rule.read_only is None or rule.read_only == read_only


def allowed(tool: McpTool, listed: Mapping[str, Any]) -> bool:
    """Whether the model may be offered the server's tool ``listed`` (an ``mcp_list_tools`` entry)."""
    rule = tool.allowed_tools
    if rule is None:
        return True
    if isinstance(rule, list):
        return listed["name"] in rule
    return _matches(rule, listed)


def needs_approval(tool: McpTool, listed: Mapping[str, Any]) -> bool:
    rule = tool.require_approval
    if rule is None or rule == "always":
        return True
    if rule == "never":
        return False
    if _matches(rule.never, listed) and not _matches(rule.always, listed):
        return False
    if _matches(rule.always, listed):
        return True
    return rule.never is not None or rule.always is None


# Listings and the functions they offer -----------------------------------------------------------


def cached_listings(chain: Iterable[Item]) -> dict[str, Item]:
    """The chain's successful ``mcp_list_tools`` items by ``server_label``, the latest of each."""
    return {
        item["server_label"]: item
        for item in chain
        if item.get("type") == "mcp_list_tools" and not item.get("error")
    }


def function_name(server_label: str, tool_name: str) -> str:
    """The function a server's tool is offered as: unique per server, within Chat Completions' rules."""
    name = f"{server_label}__{_UNSAFE.sub('_', tool_name)}"
    if len(name) <= _NAME_MAX and name == f"{server_label}__{tool_name}":
        return name
    digest = hashlib.sha256(f"{server_label}\0{tool_name}".encode()).hexdigest()[:8]
    return f"{name[: _NAME_MAX - 9]}_{digest}"


def offered(tool: McpTool, listing: Item) -> dict[str, HostedTool]:
    """The functions a server's listing offers the model (its allowed tools), by function name."""
    entry = tool.public()
    return {
        function_name(tool.server_label, listed["name"]): HostedTool(
            type=TYPE, tool={**entry, "mcp_tool": dict(listed)}
        )
        for listed in listing.get("tools") or []
        if allowed(tool, listed)
    }


def chat_functions(hosted: Mapping[str, HostedTool]) -> list[dict[str, Any]]:
    """The chat ``tools`` entries of offered functions (reserved calls are not offered)."""
    reserved = (LIST_PREFIX, APPROVED_PREFIX)
    return [chat_function(name, entry) for name, entry in hosted.items() if not name.startswith(reserved)]


def chat_function(name: str, hosted: HostedTool) -> dict[str, Any]:
    listed = hosted.tool["mcp_tool"]
    schema = listed.get("input_schema") or {"type": "object", "properties": {}}
    function: dict[str, Any] = {"name": name, "parameters": schema}
    if description := listed.get("description"):
        function["description"] = description
    return {"type": "function", "function": function}


def listing_call(tool: McpTool) -> tuple[str, HostedTool]:
    """The reserved call that lists a server's tools, and its entry."""
    return f"{LIST_PREFIX}{tool.server_label}", HostedTool(type=TYPE, tool=tool.public())


@dataclass(frozen=True)
class FirstStep:
    """What a request's MCP tools need before its first chat call: the functions of servers the chain
    listed already (``hosted``, offered at once), and a tool step (``calls``) that lists the others and
    runs the calls the client approved, whose model turn (``assistant``) precedes their results."""

    hosted: dict[str, HostedTool]
    calls: list[HostedCall]
    assistant: dict[str, Any] | None


def first_step(tools: list[Any], known: Iterable[Item], inputs: Iterable[Item]) -> FirstStep:
    """``known``: the items of the chain and of this request, oldest first (a stateless client hands its
    listings and approval requests back as input); ``inputs``: this request's. ``ValueError`` for an
    approval that cannot run."""
    known = list(known)
    listings = cached_listings(known)
    hosted: dict[str, HostedTool] = {}
    calls: list[HostedCall] = []
    for tool in servers(tools).values():
        if (listing := listings.get(tool.server_label)) is not None:
            hosted.update(offered(tool, listing))
        else:
            name, entry = listing_call(tool)
            hosted[name] = entry
            calls.append(HostedCall(call_id=name, name=name))
    references = {item["id"]: item for item in known if item.get("id")}
    approved = approved_calls(inputs, references, tools)
    turn = []
    for name, entry, request in approved:
        hosted[name] = entry
        calls.append(HostedCall(call_id=request["id"], name=name, arguments=request["arguments"]))
        function = function_name(request["server_label"], request["name"])
        turn.append({"call_id": request["id"], "name": function, "arguments": request["arguments"]})
    assistant = builtin_tools.assistant_message("", turn) if turn else None
    return FirstStep(hosted=hosted, calls=calls, assistant=assistant)


def begin(call: ChatCallRequested, first: FirstStep) -> ChatCallRequested | ToolCallsRequested:
    """The response's first step: ``call`` itself, or the tool step of ``first`` that leads to it."""
    if not first.calls:
        return call
    rid = call.response_id
    # Numbered as a first step of the loop (services/worker/toolsteps.py): the tool step opens the response.
    loop = call.loop.model_copy(update={"step": 1})
    next_call = call.model_copy(update={"event_id": derived_id("evt", rid, "call", 1), "loop": loop})
    return ToolCallsRequested(
        event_id=derived_id("evt", rid, "tools", 0),
        response_id=rid,
        tenant=call.tenant,
        calls=first.calls,
        assistant=first.assistant,
        next_call=next_call,
    )


# Approvals ---------------------------------------------------------------------------------------


def approved_calls(
    inputs: Iterable[Item], references: Mapping[str, Item], tools: Iterable[Any]
) -> list[tuple[str, HostedTool, Item]]:
    """The calls the client approved in this request's input: for each, its reserved call name, its
    entry, and the ``mcp_approval_request`` it answers. ``ValueError`` names an approval that answers
    no request of the chain, or a server the request no longer offers."""
    by_label = servers(tools)
    approved = []
    for item in inputs:
        if item.get("type") != "mcp_approval_response" or not item.get("approve"):
            continue
        request = approval_request(item, references)
        tool = by_label.get(request["server_label"])
        if tool is None:
            raise ValueError(
                f"The approved call's MCP server {request['server_label']!r} is not in 'tools'; send the "
                "mcp tool again with the approval."
            )
        listed = _listed(references.values(), tool.server_label, request["name"])
        if not allowed(tool, listed):
            raise ValueError(f"The approved call's tool {request['name']!r} is not in 'allowed_tools'.")
        entry = HostedTool(type=TYPE, tool={**tool.public(), "mcp_tool": listed, "approval": request["id"]})
        approved.append((f"{APPROVED_PREFIX}{request['id']}", entry, request))
    return approved


def _listed(chain: Iterable[Item], server_label: str, name: str) -> Item:
    """The tool ``name`` as the chain's listing of its server shows it (just its name, if unlisted)."""
    listing = cached_listings(chain).get(server_label) or {}
    return next((t for t in listing.get("tools") or [] if t.get("name") == name), {"name": name})


def approval_request(response: Item, references: Mapping[str, Item]) -> Item:
    request = references.get(str(response.get("approval_request_id")))
    if request is None or request.get("type") != "mcp_approval_request":
        raise ValueError(
            f"The mcp_approval_response answers {response.get('approval_request_id')!r}, which is no "
            "mcp_approval_request of this response chain."
        )
    return request


def as_function_items(item: Item, references: Mapping[str, Item]) -> list[Item]:
    """An MCP item of the chat history as the function call and output the model saw: an ``mcp_call``
    with its result; a denied ``mcp_approval_response`` as its call, declined. Others: nothing (a
    listing only offered functions; an approved call shows as the ``mcp_call`` it ran as)."""
    if item.get("type") == "mcp_call":
        return _exchange(item, result_text(item.get("output"), item.get("error")))
    if item.get("type") == "mcp_approval_response" and not item.get("approve"):
        reason = f" Reason: {item['reason']}" if item.get("reason") else ""
        return _exchange(approval_request(item, references), DECLINED + reason)
    return []


def _exchange(item: Item, result: str) -> list[Item]:
    call_id = item["id"]
    name = function_name(item["server_label"], item["name"])
    return [
        {"type": "function_call", "call_id": call_id, "name": name, "arguments": item["arguments"]},
        {"type": "function_call_output", "call_id": call_id, "output": result},
    ]


# Output items and their events -------------------------------------------------------------------


def listing_events(
    state: stream.StreamState, server_label: str, tools: list[Item], error: str | None
) -> list[Event]:
    """An ``mcp_list_tools`` item: added, in progress, completed (or failed), done."""
    item: Item = {"type": "mcp_list_tools", "server_label": server_label, "tools": []}
    index, events = stream.open_item(state, item, "mcpl")
    events.append(stream.item_event(state, "response.mcp_list_tools.in_progress", index))
    outcome = "failed" if error else "completed"
    events.append(stream.item_event(state, f"response.mcp_list_tools.{outcome}", index))
    fields: dict[str, Any] = {"tools": tools, **({"error": error} if error else {})}
    return events + stream.close_item(state, index, outcome, **fields)


def approval_events(state: stream.StreamState, server_label: str, name: str, arguments: str) -> list[Event]:
    """An ``mcp_approval_request`` item, added and done: the response ends waiting for the client."""
    item: Item = {"type": "mcp_approval_request", "server_label": server_label, "name": name}
    item["arguments"] = arguments
    index, events = stream.open_item(state, item, "mcpr")
    return events + stream.close_item(state, index, "completed")


def call_opened(
    state: stream.StreamState, server_label: str, name: str, arguments: str, approval_request_id: str | None
) -> tuple[int, list[Event]]:
    """An ``mcp_call`` item about to run: added, its arguments, in progress."""
    item: Item = {
        "type": "mcp_call",
        "server_label": server_label,
        "name": name,
        "arguments": "",
        "output": None,
        "error": None,
        "status": "in_progress",
        "approval_request_id": approval_request_id,
    }
    index, events = stream.open_item(state, item, "mcp")
    state.output[index]["arguments"] = arguments
    events += [
        stream.item_event(state, "response.mcp_call_arguments.delta", index, delta=arguments),
        stream.item_event(state, "response.mcp_call_arguments.done", index, arguments=arguments),
        stream.item_event(state, "response.mcp_call.in_progress", index),
    ]
    return index, events


def call_closed(
    state: stream.StreamState, index: int, output: str | None, error: dict[str, Any] | None
) -> list[Event]:
    """The call ran: completed (with its output) or failed (with its error), then done."""
    outcome = "failed" if error else "completed"
    event = stream.item_event(state, f"response.mcp_call.{outcome}", index)
    return [event, *stream.close_item(state, index, outcome, output=output, error=error)]


def result_text(output: str | None, error: Mapping[str, Any] | str | None) -> str:
    """What the model reads of a call: its output, or its error."""
    if not error:
        return output or ""
    if isinstance(error, str):
        return f"Error: {error}"
    if error.get("type") == "mcp_tool_execution_error":
        content = error.get("content") or []
        texts = [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
        return "Error: " + ("\n".join(texts) or json.dumps(content))
    return f"Error: {error.get('message') or json.dumps(dict(error))}"


def arguments_of(text: str) -> dict[str, Any]:
    """A call's arguments as the server takes them; ``ValueError`` (its message for the model) when
    they are not a JSON object."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        raise ValueError("The arguments must be a JSON object.") from None
    if not isinstance(value, dict):
        raise ValueError("The arguments must be a JSON object.")
    return value

"""MCP tools, pure: which tools the model is offered, which calls need approval, the listing cache of a
chain, the items and events, and what the model reads back."""

import json

import pytest
from openai.types.responses import ResponseStreamEvent
from openai.types.responses.response_output_item import McpApprovalRequest, McpCall, McpListTools
from pydantic import TypeAdapter

from shared.domain import items, mcp, stream, tools
from shared.events import ChatCallRequested, ToolCallsRequested
from shared.request_model import McpTool

ADD = {"name": "add", "input_schema": {"type": "object"}, "description": "Add.", "annotations": None}
LOOKUP = {"name": "lookup", "input_schema": {"type": "object"}, "annotations": {"readOnlyHint": True}}
SERVER = {"type": "mcp", "server_label": "calc", "server_url": "https://mcp.example.com/mcp"}


def _tool(**fields) -> McpTool:
    return McpTool.model_validate({**SERVER, **fields})


@pytest.mark.parametrize(
    ("allowed_tools", "offered"),
    [
        (None, {"add", "lookup"}),
        (["lookup"], {"lookup"}),
        ({"tool_names": ["add"]}, {"add"}),
        ({"read_only": True}, {"lookup"}),
        ({"read_only": False}, {"add"}),
        ([], set()),
    ],
)
def test_allowed_tools_narrows_what_the_model_is_offered(allowed_tools, offered):
    tool = _tool(allowed_tools=allowed_tools)
    hosted = mcp.offered(tool, {"tools": [ADD, LOOKUP]})
    assert {entry.tool["mcp_tool"]["name"] for entry in hosted.values()} == offered
    assert all(name.startswith("calc__") for name in hosted)


@pytest.mark.parametrize(
    ("require_approval", "add", "lookup"),
    [
        (None, True, True),  # OpenAI's default
        ("always", True, True),
        ("never", False, False),
        ({"never": {"tool_names": ["lookup"]}}, True, False),
        ({"never": {"read_only": True}}, True, False),
        ({"always": {"tool_names": ["add"]}}, True, False),
        ({"always": {"tool_names": ["add"]}, "never": {"tool_names": ["add", "lookup"]}}, True, False),
    ],
)
def test_require_approval_says_which_calls_wait_for_the_client(require_approval, add, lookup):
    tool = _tool(require_approval=require_approval)
    assert mcp.needs_approval(tool, ADD) is add
    assert mcp.needs_approval(tool, LOOKUP) is lookup


def test_the_echoed_tool_and_the_offered_functions_hold_no_secret():
    tool = _tool(headers={"X-Api-Key": "secret-1"}, authorization="secret-2")
    [echoed] = tools.echo_tools([tool])
    entries = mcp.offered(tool, {"tools": [ADD]})
    carried = json.dumps(
        [echoed, *(e.model_dump() for e in entries.values()), mcp.listing_call(tool)[1].tool]
    )
    assert "secret" not in carried and echoed["server_url"] == SERVER["server_url"]


def test_a_chain_that_listed_a_server_is_not_listed_again():
    other = _tool(server_label="docs")
    chain = [
        {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "calc", "tools": [ADD]},
        {"type": "mcp_list_tools", "id": "mcpl_2", "server_label": "docs", "tools": [], "error": "HTTP 500"},
    ]
    assert [c.name for c in mcp.first_step([_tool(), other], chain, []).calls] == ["mcp_list_tools:docs"]
    assert mcp.cached_listings(chain)["calc"]["id"] == "mcpl_1"


def test_function_names_follow_chat_completions_rules():
    assert mcp.function_name("calc", "add") == "calc__add"
    odd = mcp.function_name("calc", "look.up/" + "x" * 80)
    assert len(odd) <= 64 and odd.replace("_", "").replace("-", "").isalnum()
    assert odd != mcp.function_name("calc", "look.up/" + "x" * 81)


def test_the_chat_function_is_the_listed_tool():
    [(name, entry)] = mcp.offered(_tool(), {"tools": [ADD]}).items()
    assert mcp.chat_function(name, entry) == {
        "type": "function",
        "function": {"name": "calc__add", "parameters": {"type": "object"}, "description": "Add."},
    }


def _state():
    state, _ = stream.start({"id": "resp_1", "output": [], "tools": []}, sequence_start=0)
    return state


def _checked(events: list[dict]) -> list[str]:
    adapter = TypeAdapter(ResponseStreamEvent)
    for event in events:
        adapter.validate_python(event)
    return [event["type"] for event in events]


def test_a_listing_emits_openais_items_and_events():
    state = _state()
    events = mcp.listing_events(state, "calc", [ADD], None)
    assert _checked(events) == [
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
    ]
    item = McpListTools.model_validate(events[-1]["item"])
    assert item.id.startswith("mcpl_") and item.tools[0].name == "add" and item.error is None
    failed = mcp.listing_events(state, "calc", [], "The MCP server answered HTTP 401.")
    assert failed[2]["type"] == "response.mcp_list_tools.failed"
    assert failed[-1]["item"]["error"] == "The MCP server answered HTTP 401."


def test_a_call_emits_openais_items_and_events():
    state = _state()
    index, opened = mcp.call_opened(state, "calc", "add", '{"a":1,"b":2}', None)
    closed = mcp.call_closed(state, index, "3", None)
    assert _checked(opened + closed) == [
        "response.output_item.added",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
    ]
    done = McpCall.model_validate(closed[-1]["item"])
    assert (done.arguments, done.output, done.status, done.error) == ('{"a":1,"b":2}', "3", "completed", None)
    assert [e["sequence_number"] for e in opened + closed] == list(range(2, 8))  # after the opening two


def test_a_failed_call_carries_its_error():
    state = _state()
    index, _ = mcp.call_opened(state, "calc", "slow", "{}", "mcpr_1")
    error = {"type": "http_error", "code": 504, "message": "The MCP server did not answer within 1s."}
    closed = mcp.call_closed(state, index, None, error)
    assert closed[0]["type"] == "response.mcp_call.failed"
    done = McpCall.model_validate(closed[-1]["item"])
    assert done.status == "failed" and done.error.code == 504 and done.approval_request_id == "mcpr_1"
    assert mcp.result_text(None, error) == "Error: The MCP server did not answer within 1s."


def test_an_approval_request_is_an_item_of_its_own():
    events = mcp.approval_events(_state(), "calc", "add", '{"a":1}')
    assert _checked(events) == ["response.output_item.added", "response.output_item.done"]
    request = McpApprovalRequest.model_validate(events[-1]["item"])
    assert request.id.startswith("mcpr_") and request.arguments == '{"a":1}'


REQUEST = {
    "type": "mcp_approval_request",
    "id": "mcpr_1",
    "server_label": "calc",
    "name": "add",
    "arguments": "{}",
}
LISTING = {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "calc", "tools": [ADD]}


def test_an_approved_call_runs_as_its_reserved_call():
    chain = {"mcpr_1": REQUEST, "mcpl_1": LISTING}
    approval = {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}
    [(name, entry, request)] = mcp.approved_calls([approval], chain, [_tool()])
    assert name == "mcp_approved:mcpr_1" and request is REQUEST
    assert entry.tool["mcp_tool"]["name"] == "add" and entry.tool["approval"] == "mcpr_1"


@pytest.mark.parametrize(
    ("approval", "tools_sent", "problem"),
    [
        ({"approval_request_id": "mcpr_9", "approve": True}, [_tool()], "no mcp_approval_request"),
        ({"approval_request_id": "mcpr_1", "approve": True}, [], "not in 'tools'"),
        (
            {"approval_request_id": "mcpr_1", "approve": True},
            [_tool(allowed_tools=["lookup"])],
            "allowed_tools",
        ),
    ],
)
def test_an_approval_that_cannot_run_is_refused(approval, tools_sent, problem):
    approval = {"type": "mcp_approval_response", **approval}
    with pytest.raises(ValueError, match=problem):
        mcp.approved_calls([approval], {"mcpr_1": REQUEST, "mcpl_1": LISTING}, tools_sent)


def test_the_model_reads_a_denial_and_earlier_calls_as_function_calls():
    call = {**REQUEST, "type": "mcp_call", "id": "mcp_2", "output": "3", "status": "completed"}
    denial = {
        "type": "mcp_approval_response",
        "approval_request_id": "mcpr_1",
        "approve": False,
        "reason": "no",
    }
    approval = {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}
    messages = items.to_messages([LISTING, REQUEST, denial, approval, call], references={"mcpr_1": REQUEST})
    declined = f"{mcp.DECLINED} Reason: no"
    assert messages == [
        {"role": "assistant", "content": None, "tool_calls": [_call("mcpr_1")]},
        {"role": "tool", "tool_call_id": "mcpr_1", "content": declined},
        {"role": "assistant", "content": None, "tool_calls": [_call("mcp_2")]},
        {"role": "tool", "tool_call_id": "mcp_2", "content": "3"},
    ]


def _call(call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": "calc__add", "arguments": "{}"}}


def _chat_call() -> ChatCallRequested:
    return ChatCallRequested(
        event_id="evt_0",
        response_id="resp_1",
        tenant="t",
        model="m1",
        chat={"messages": []},
        response={},
        stream=False,
    )


def test_a_first_request_lists_its_servers_before_the_model_is_called():
    first = mcp.first_step([_tool(), {"type": "web_search"}], [], [])
    assert [c.name for c in first.calls] == ["mcp_list_tools:calc"] and first.assistant is None
    assert mcp.chat_functions(first.hosted) == []  # a reserved call is offered to no model
    step = mcp.begin(_chat_call(), first)
    assert isinstance(step, ToolCallsRequested) and step.calls == first.calls
    assert step.next_call.loop.step == 1 and step.next_call.event_id != step.event_id


def test_a_chain_that_listed_its_server_offers_the_functions_at_once():
    first = mcp.first_step([_tool()], [LISTING], [])
    assert first.calls == [] and list(first.hosted) == ["calc__add"]
    call = _chat_call()
    assert mcp.begin(call, first) is call


def test_an_approval_runs_first_as_the_models_call():
    approval = {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}
    first = mcp.first_step([_tool()], [LISTING, REQUEST, approval], [approval])
    [call] = first.calls
    assert (call.call_id, call.name, call.arguments) == ("mcpr_1", "mcp_approved:mcpr_1", "{}")
    assert first.assistant["tool_calls"] == [_call("mcpr_1")]

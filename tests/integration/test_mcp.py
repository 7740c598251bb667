"""Remote MCP tools, run by the gateway against an MCP server of the tests' own on loopback
(``tests/mcp_server.py``), with the scripted mock LLM deciding to call them: a loop of several calls,
streamed and plain; the approval flow (approve, deny); ``allowed_tools``; a server that errs, times out
or cannot be reached; the operator's allow-list (SSRF); and the client's credentials, which reach the
server and nothing else. Through the openai SDK and the Agents SDK's ``HostedMCPTool``.

A stack of this module's own: its config allows the loopback server (and names one private address it
does not allow), with a short timeout, which the session's stack must not have."""

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from agents import Agent, HostedMCPTool, OpenAIResponsesModel, Runner, set_tracing_disabled
from mcp_server import LoopbackMcpServer, running

from deploy.local.processes import free_port
from deploy.local.stack import Stack

from .stacks import module_stack, one_model, terminal, until

set_tracing_disabled(True)  # tracing would export to OpenAI, which the test cannot (and must not) reach

KEY = "sk-mcp-tests"
TOKEN = "mcp-server-token-s3cret"
HEADER_SECRET = "header-value-s3cret"
# Long enough for a test to kill a worker while a call is in flight (test_a_worker_killed...).
TIMEOUT_S = 5
# Matches the allow-list's second pattern, but is a private address whose network is not allowed.
PRIVATE_URL = "http://10.9.9.9:8000/mcp"
POLICY = {
    "allowed_servers": ["http://127.0.0.1:*/mcp", "http://10.9.9.9:*/mcp"],
    "allowed_networks": ["127.0.0.0/8"],
    "timeout_s": TIMEOUT_S,
}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackMcpServer]:
    with running(token=TOKEN) as started:
        yield started


@pytest.fixture(autouse=True)
def fresh_server(server: LoopbackMcpServer) -> None:
    server.reset()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    config = one_model("MCP_KEY", "mcp", mcp=POLICY)
    with module_stack(tmp_path_factory, mock_url, "mcp", config=config, env={"MCP_KEY": KEY}) as running_:
        yield running_


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def _tool(server: LoopbackMcpServer, **fields) -> dict:
    return {
        "type": "mcp",
        "server_label": "calc",
        "server_url": server.url,
        "authorization": TOKEN,
        "headers": {"X-Client-Secret": HEADER_SECRET},
        "require_approval": "never",
        **fields,
    }


def _call(name: str, arguments: dict, call_id: str) -> dict:
    return {"tool_calls": [{"id": call_id, "name": f"calc__{name}", "arguments": json.dumps(arguments)}]}


LOOP = (
    _call("add", {"a": 2, "b": 3}, "call_add"),
    _call("lookup", {"key": "capital:fr"}, "call_lookup"),
    {"content": "2 + 3 = 5, and the capital is Paris."},
)


def _check_loop(output: list, server: LoopbackMcpServer, mock_llm) -> None:
    listing, add, lookup, answer = output
    assert listing.type == "mcp_list_tools" and listing.server_label == "calc" and listing.error is None
    assert {t.name for t in listing.tools} == {"add", "lookup", "slow", "hold", "crash"}
    assert (add.type, add.name, json.loads(add.arguments), add.output) == (
        "mcp_call",
        "add",
        {"a": 2, "b": 3},
        "5",
    )
    assert (lookup.name, lookup.output, lookup.status, lookup.error) == ("lookup", "Paris", "completed", None)
    assert answer.type == "message" and answer.content[0].text == "2 + 3 = 5, and the capital is Paris."
    assert server.calls == [("add", {"a": 2, "b": 3}), ("lookup", {"key": "capital:fr"})]
    # The client's credentials reached the server, on every request it got.
    assert all(r.get("authorization") == f"Bearer {TOKEN}" for r in server.requests)
    assert all(r.get("x-client-secret") == HEADER_SECRET for r in server.requests)
    sent = mock_llm.requests()
    assert len(sent) == 3
    offered = {t["function"]["name"] for t in sent[0]["body"]["tools"]}
    assert offered == {"calc__add", "calc__lookup", "calc__slow", "calc__hold", "calc__crash"}
    last = sent[-1]["body"]["messages"]
    assert [m["content"] for m in last if m["role"] == "tool"] == ["5", "Paris"]
    assert [m["tool_calls"][0]["function"]["name"] for m in last if m["role"] == "assistant"] == [
        "calc__add",
        "calc__lookup",
    ]


def _no_secret(text: str) -> None:
    assert TOKEN not in text and HEADER_SECRET not in text


def test_a_tool_loop_of_several_calls(client, server, mock_llm, stack):
    mock_llm.script(*LOOP)
    response = client.responses.create(
        model="m1", input="Add 2 and 3, then find France's capital.", tools=[_tool(server)]
    )
    assert response.status == "completed"
    _check_loop(response.output, server, mock_llm)
    # The echoed tool, the stored response and the services' logs hold none of the client's secrets.
    _no_secret(response.model_dump_json())
    _no_secret(client.responses.retrieve(response.id).model_dump_json())
    _no_secret(client.responses.input_items.list(response.id).model_dump_json())
    for log in Path(stack.log_dir).glob("*.log"):
        _no_secret(log.read_text(errors="replace"))


def test_a_streamed_tool_loop_shows_every_step(client, server, mock_llm):
    mock_llm.script(*LOOP)
    events = list(
        client.responses.create(model="m1", input="Add, then look up.", tools=[_tool(server)], stream=True)
    )
    kinds = [e.type for e in events]
    assert [k for k in kinds if k.startswith("response.mcp")] == [
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        *(
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.in_progress",
            "response.mcp_call.completed",
        )
        * 2,
    ]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    # The model's calls of MCP functions never reach the client as function calls.
    assert "response.function_call_arguments.delta" not in kinds
    _check_loop(events[-1].response.output, server, mock_llm)


def test_a_background_tool_loop_runs_and_replays(client, server, mock_llm):
    mock_llm.script(*LOOP)
    started = client.responses.create(
        model="m1", input="Add, then look up.", tools=[_tool(server)], background=True
    )
    assert started.status == "queued"
    done = until(
        lambda: (r := client.responses.retrieve(started.id)).status == "completed" and r, "loop ends"
    )
    _check_loop(done.output, server, mock_llm)
    replayed = [e.type for e in client.responses.retrieve(started.id, stream=True)]
    assert replayed.count("response.mcp_call.completed") == 2 and replayed[-1] == "response.completed"


def test_a_worker_killed_during_a_call_the_loop_still_completes(stack, client, server, mock_llm):
    """The worker dies while the server runs the call: the tool step is redelivered to the restarted
    worker, which calls again (at least once) and goes on; the client sees one response, in order."""
    mock_llm.script(_call("hold", {}, "call_hold"), {"content": "It was released."})
    started = client.responses.create(model="m1", input="hold on", tools=[_tool(server)], background=True)
    until(lambda: server.calls, "the worker called the tool")
    stack.kill("worker")
    server.released.set()
    stack.restart("worker")
    final = until(lambda: (r := client.responses.retrieve(started.id)).status == "completed" and r, "it ends")
    assert [item.type for item in final.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert final.output[1].output == "released" and final.output[2].content[0].text == "It was released."
    assert server.calls == [("hold", {}), ("hold", {})]  # the step ran again
    assert len(mock_llm.requests()) == 2  # but no chat call did
    events = list(client.responses.retrieve(started.id, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events].count("response.created") == 1


def test_cancel_mid_loop_stops_the_call_in_flight(client, server, mock_llm):
    """A cancel heard while a call runs ends the response without waiting for the server: the call is
    left ``incomplete`` and the model is not called again."""
    mock_llm.script(_call("hold", {}, "call_hold"), {"content": "never sent"})
    started = client.responses.create(model="m1", input="hold on", tools=[_tool(server)], background=True)
    until(lambda: server.calls, "the worker called the tool")
    cancelled = client.responses.cancel(started.id)  # the server still holds the call
    server.released.set()
    assert cancelled.status == "cancelled"
    assert [(item.type, item.status) for item in cancelled.output] == [
        ("mcp_list_tools", "completed"),
        ("mcp_call", "incomplete"),
    ]
    assert cancelled.output[1].output is None
    assert terminal(client, started.id).status == "cancelled"
    events = list(client.responses.retrieve(started.id, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events[-3:]] == [
        "response.mcp_call.in_progress",
        "response.output_item.done",
        "response.cancelled",
    ]
    assert events[-2].item.status == "incomplete"
    assert len(mock_llm.requests()) == 1


def test_a_stream_resumes_mid_loop(client, server, mock_llm):
    """The client goes away while a call runs and comes back before it ends: it reads the rest of the
    loop, each event once, in order."""
    mock_llm.script(_call("hold", {}, "call_hold"), {"content": "It was released."})
    first_part = []
    with client.responses.create(
        model="m1", input="hold on", tools=[_tool(server)], background=True, stream=True
    ) as streamed:
        for event in streamed:
            first_part.append(event)
            if event.type == "response.mcp_call.in_progress":
                break
    resumed = client.responses.retrieve(
        first_part[0].response.id, stream=True, starting_after=first_part[-1].sequence_number
    )
    server.released.set()
    rest = list(resumed)
    events = first_part + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in rest[:2]] == ["response.mcp_call.completed", "response.output_item.done"]
    assert rest[1].item.output == "released"
    assert events[-1].type == "response.completed"
    assert [item.type for item in events[-1].response.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert events[-1].response.output[2].content[0].text == "It was released."


def test_the_listing_is_cached_along_the_chain(client, server, mock_llm):
    mock_llm.script({"content": "first"}, _call("add", {"a": 1, "b": 1}, "call_1"), {"content": "2"})
    first = client.responses.create(model="m1", input="hi", tools=[_tool(server)])
    server.reset()
    second = client.responses.create(
        model="m1", input="add 1 and 1", previous_response_id=first.id, tools=[_tool(server)]
    )
    assert [item.type for item in first.output] == ["mcp_list_tools", "message"]
    assert [item.type for item in second.output] == ["mcp_call", "message"]  # no second listing
    # The call went out without listing first (the SDK lists after a call, to check its result).
    methods = [r.get("mcp-method") for r in server.requests]
    assert "tools/list" not in methods[: methods.index("tools/call")]
    assert "calc__add" in {t["function"]["name"] for t in mock_llm.requests()[1]["body"]["tools"]}


def test_allowed_tools_limits_what_the_model_is_offered(client, server, mock_llm):
    mock_llm.script({"content": "ok"})
    response = client.responses.create(
        model="m1", input="hi", tools=[_tool(server, allowed_tools={"tool_names": ["lookup"]})]
    )
    assert [t.name for t in response.output[0].tools] == ["lookup"]
    assert [t["function"]["name"] for t in mock_llm.requests()[0]["body"]["tools"]] == ["calc__lookup"]


def _approval_turn(client, server, mock_llm):
    mock_llm.script(_call("add", {"a": 4, "b": 5}, "call_add"))
    first = client.responses.create(
        model="m1", input="Add 4 and 5.", tools=[_tool(server, require_approval="always")]
    )
    assert first.status == "completed"
    assert [item.type for item in first.output] == ["mcp_list_tools", "mcp_approval_request"]
    request = first.output[1]
    assert (request.server_label, request.name, json.loads(request.arguments)) == (
        "calc",
        "add",
        {"a": 4, "b": 5},
    )
    assert server.calls == []  # nothing runs before the client approves
    return first, request


def _answer(client, server, first, **approval):
    """The client's next request, answering an approval request."""
    return client.responses.create(
        model="m1",
        previous_response_id=first.id,
        input=[{"type": "mcp_approval_response", **approval}],
        tools=[_tool(server, require_approval="always")],
    )


def test_an_approved_call_runs_in_the_next_request(client, server, mock_llm):
    first, request = _approval_turn(client, server, mock_llm)
    mock_llm.script({"content": "4 + 5 = 9"})
    second = _answer(client, server, first, approval_request_id=request.id, approve=True)
    call, answer = second.output
    assert (call.type, call.name, call.output, call.status) == ("mcp_call", "add", "9", "completed")
    assert call.approval_request_id == request.id and answer.content[0].text == "4 + 5 = 9"
    assert server.calls == [("add", {"a": 4, "b": 5})]
    messages = mock_llm.requests()[-1]["body"]["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "calc__add"
    assert messages[-1] == {"role": "tool", "tool_call_id": request.id, "content": "9"}


def test_a_denied_call_is_not_run_and_the_model_is_told(client, server, mock_llm):
    first, request = _approval_turn(client, server, mock_llm)
    mock_llm.script({"content": "Understood, I will not add."})
    second = _answer(client, server, first, approval_request_id=request.id, approve=False, reason="no")
    assert [item.type for item in second.output] == ["message"]
    assert server.calls == []
    tool_message = mock_llm.requests()[-1]["body"]["messages"][-1]
    assert tool_message["role"] == "tool" and "declined" in tool_message["content"]


def test_an_approval_of_no_request_is_refused(client, server, mock_llm):
    first, _ = _approval_turn(client, server, mock_llm)
    with pytest.raises(openai.BadRequestError) as refused:
        _answer(client, server, first, approval_request_id="mcpr_nope", approve=True)
    assert "mcpr_nope" in refused.value.message
    assert server.calls == []


@pytest.mark.parametrize(
    ("tool", "arguments", "error"),
    [
        ("crash", {}, {"type": "mcp_tool_execution_error"}),
        ("slow", {"seconds": TIMEOUT_S * 5}, {"type": "http_error", "code": 504}),
    ],
)
def test_a_call_that_fails_is_an_mcp_call_with_its_error(client, server, mock_llm, tool, arguments, error):
    mock_llm.script(_call(tool, arguments, "call_1"), {"content": "That did not work."})
    response = client.responses.create(model="m1", input="try it", tools=[_tool(server)])
    call = response.output[1]
    assert (call.type, call.status, call.output) == ("mcp_call", "failed", None)
    assert error.items() <= call.error.model_dump().items()
    assert response.status == "completed" and response.output[-1].content[0].text == "That did not work."
    assert mock_llm.requests()[-1]["body"]["messages"][-1]["content"].startswith("Error: ")


def test_a_server_that_cannot_be_reached_is_a_failed_listing(client, mock_llm):
    mock_llm.script({"content": "No tools today."})
    dead = {"type": "mcp", "server_label": "dead", "server_url": f"http://127.0.0.1:{free_port()}/mcp"}
    response = client.responses.create(model="m1", input="hi", tools=[dead])
    listing, answer = response.output
    assert (
        listing.type == "mcp_list_tools" and listing.tools == [] and "could not be reached" in listing.error
    )
    assert answer.content[0].text == "No tools today."
    assert "tools" not in mock_llm.requests()[0]["body"]  # nothing to offer the model


def test_the_server_refuses_a_client_without_its_token(client, server, mock_llm):
    mock_llm.script({"content": "ok"})
    response = client.responses.create(model="m1", input="hi", tools=[_tool(server, authorization="wrong")])
    assert response.output[0].error == "The MCP server answered HTTP 401."


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://mcp.example.com/mcp", "not allowed by this gateway's configuration"),
        (
            "http://localhost:8000/mcp",
            "not allowed by this gateway's configuration",
        ),  # the pattern names 127.0.0.1
        ("http://127.0.0.1:8000/other", "not allowed by this gateway's configuration"),
        (PRIVATE_URL, "private address"),
        ("http://user:pw@127.0.0.1:8000/mcp", "credentials"),
    ],
)
def test_a_server_outside_the_allow_list_is_refused_before_anything_runs(client, mock_llm, url, reason):
    tool = {"type": "mcp", "server_label": "x", "server_url": url}
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="m1", input="hi", tools=[{"type": "function", "name": "f"}, tool])
    assert refused.value.param == "tools[1].server_url" and reason in refused.value.message
    assert mock_llm.requests() == []


def test_a_connector_is_refused(client, mock_llm):
    tool = {"type": "mcp", "server_label": "x", "connector_id": "connector_gmail"}
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="m1", input="hi", tools=[tool])
    assert refused.value.param == "tools[0].connector_id"


# The Agents SDK ----------------------------------------------------------------------------------


@pytest.fixture
async def async_client(stack: Stack):
    async with openai.AsyncOpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def _agent(async_client, server, **tool) -> Agent:
    model = OpenAIResponsesModel(model="m1", openai_client=async_client)
    hosted = HostedMCPTool(tool_config=_tool(server, **tool.pop("config", {})), **tool)
    return Agent(name="assistant", instructions="Use the tools.", model=model, tools=[hosted])


async def test_an_agent_runs_a_hosted_mcp_tool_loop(async_client, server, mock_llm):
    mock_llm.script(*LOOP)
    result = await Runner.run(_agent(async_client, server), "Add 2 and 3, then find France's capital.")
    assert result.final_output == "2 + 3 = 5, and the capital is Paris."
    assert server.calls == [("add", {"a": 2, "b": 3}), ("lookup", {"key": "capital:fr"})]
    assert [item.type for item in result.new_items] == [
        "mcp_list_tools_item",
        "tool_call_item",
        "tool_call_item",
        "message_output_item",
    ]


async def test_an_agent_approves_a_hosted_mcp_call(async_client, server, mock_llm):
    asked = []

    def approve(request):
        asked.append(request.data.name)
        return {"approve": True}

    mock_llm.script(_call("add", {"a": 4, "b": 5}, "call_add"), {"content": "9"})
    agent = _agent(async_client, server, config={"require_approval": "always"}, on_approval_request=approve)
    result = await Runner.run(agent, "Add 4 and 5.")
    assert result.final_output == "9"
    assert asked == ["add"] and server.calls == [("add", {"a": 4, "b": 5})]

"""Tools and tool choice between the two APIs (shared/domain/tools.py): function tools reach the backend
(with namespaced ones under a joined name no longer than a function name may be), hosted tools do not but
are echoed, a forced choice the backend cannot honour is refused, and ``allowed_tools`` narrows the list."""

from typing import Any

import pytest

from shared.domain import tools
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest

LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Find a thing.",
    "parameters": {"type": "object"},
}
STRICT = {"type": "function", "name": "save", "parameters": {"type": "object"}, "strict": False}
HOSTED = {"type": "file_search", "vector_store_ids": ["vs_1"]}
AGENTS = {
    "type": "namespace",
    "name": "agents",
    "description": "Sub-agents you may start.",
    "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}],
}


def _request(*offered: dict[str, Any], choice: Any = "auto") -> ResponseCreateRequest:
    return ResponseCreateRequest.model_validate(
        {"model": "m", "input": "x", "tools": list(offered), "tool_choice": choice}
    )


def _chat(request: ResponseCreateRequest) -> list[dict[str, Any]]:
    return tools.chat_tools(request.tools, request.tool_choice)


def test_only_function_tools_reach_the_backend_in_the_chat_form():
    offered = _chat(_request(LOOKUP, HOSTED, STRICT))
    assert offered == [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Find a thing.", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "save", "parameters": {"type": "object"}, "strict": False}},
    ]


def test_strict_is_sent_only_when_the_client_set_it():
    (function,) = _chat(_request(LOOKUP))
    assert "strict" not in function["function"]


def test_every_tool_is_echoed_and_functions_are_strict_unless_told_otherwise():
    echoed = tools.echo_tools(_request(LOOKUP, STRICT, HOSTED).tools)
    assert [tool["type"] for tool in echoed] == ["function", "function", "file_search"]
    assert (echoed[0]["strict"], echoed[1]["strict"]) == (True, False)
    assert echoed[2] == HOSTED


def test_an_mcp_tool_is_echoed_without_the_clients_secrets():
    mcp = {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com",
        "headers": {"X-Api-Key": "secret-1"},
        "authorization": "Bearer secret-2",
    }
    (echoed,) = tools.echo_tools(_request(mcp).tools)
    assert echoed["server_label"] == "docs"
    assert "secret" not in repr(echoed)


def test_a_namespaces_functions_are_offered_under_a_joined_name_with_its_description():
    (function,) = _chat(_request(AGENTS))
    assert function["function"]["name"] == "agents__spawn"
    assert function["function"]["description"].startswith("Sub-agents you may start.")


def test_a_long_namespaced_name_fits_and_two_stay_apart():
    first = tools.namespaced_name("n" * 40, "a" * 40)
    second = tools.namespaced_name("n" * 40, "a" * 39 + "b")
    assert len(first) <= 64 and len(second) <= 64
    assert first != second
    assert tools.namespaced_name("ns", "f") == "ns__f"


def test_calls_of_namespaced_functions_are_reported_by_namespace_and_name():
    echoed = tools.echo_tools(_request(AGENTS, LOOKUP).tools)
    assert tools.namespaced_functions(echoed) == {"agents__spawn": ("agents", "spawn")}
    shadow = {"type": "function", "name": "agents__spawn", "parameters": {"type": "object"}}
    assert tools.namespaced_functions([*echoed, shadow]) == {}


def test_allowed_tools_narrows_the_list_and_becomes_its_mode():
    choice = {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "save"}]}
    request = _request(LOOKUP, STRICT, choice=choice)
    assert [t["function"]["name"] for t in _chat(request)] == ["save"]
    assert tools.chat_tool_choice(request.tool_choice) == "required"


def test_a_forced_function_becomes_the_chat_form():
    request = _request(LOOKUP, choice={"type": "function", "name": "lookup"})
    tools.check_tool_choice(request.tool_choice, request.tools)
    assert tools.chat_tool_choice(request.tool_choice) == {"type": "function", "function": {"name": "lookup"}}
    assert tools.echo_tool_choice(request.tool_choice) == {"type": "function", "name": "lookup"}


@pytest.mark.parametrize("mode", ["none", "auto", "required"])
def test_a_mode_passes_as_it_is(mode):
    request = _request(LOOKUP, choice=mode)
    tools.check_tool_choice(request.tool_choice, request.tools)
    assert tools.chat_tool_choice(request.tool_choice) == tools.echo_tool_choice(request.tool_choice) == mode


def test_forcing_a_function_that_is_not_offered_is_refused():
    request = _request(LOOKUP, choice={"type": "function", "name": "missing"})
    with pytest.raises(InvalidRequest) as refused:
        tools.check_tool_choice(request.tool_choice, request.tools)
    assert refused.value.param == "tool_choice" and "missing" in refused.value.message


@pytest.mark.parametrize("hosted", ["file_search", "image_generation"])
def test_forcing_a_hosted_tool_nothing_here_runs_is_refused(hosted):
    request = _request(LOOKUP, choice={"type": hosted})
    with pytest.raises(InvalidRequest) as refused:
        tools.check_tool_choice(request.tool_choice, request.tools)
    assert refused.value.param == "tool_choice"

"""The pure side of built-in tools: what is refused, dropped or offered, a search's settings, the results
the model reads, and where the answer's text cites them."""

import json

import pytest

from shared.domain import builtin_tools as bt
from shared.errors import InvalidRequest
from shared.events import HostedTool
from shared.request_model import ResponseCreateRequest

RUNS_SEARCH = bt.WEB_SEARCH_TYPES


def tools(*entries: dict) -> list:
    return ResponseCreateRequest.model_validate({"model": "m", "input": "x", "tools": list(entries)}).tools


def test_a_hosted_tool_neither_run_nor_dropped_is_refused_by_name():
    with pytest.raises(InvalidRequest) as err:
        bt.check(tools({"type": "web_search"}), runnable=frozenset(), dropped=frozenset())
    assert err.value.code == "unsupported_tool" and err.value.param == "tools[0].type"
    assert "'web_search'" in err.value.message and "tools.unsupported.web_search: drop" in err.value.message
    assert "tools.web_search runs it" in err.value.message


@pytest.mark.parametrize(
    ("entry", "setting"),
    [
        (
            {"type": "mcp", "server_label": "a", "server_url": "https://mcp.example.com/mcp"},
            "mcp.allowed_servers",
        ),
        ({"type": "file_search", "vector_store_ids": ["v"]}, None),
    ],
)
def test_the_refusal_names_the_setting_that_would_run_the_tool(entry, setting):
    with pytest.raises(InvalidRequest) as err:
        bt.check(tools(entry), runnable=frozenset(), dropped=frozenset())
    assert ("runs it" in err.value.message) == (setting is not None)
    assert setting is None or setting in err.value.message


def test_dropped_types_are_reported_and_run_ones_pass():
    found = tools(
        {"type": "function", "name": "f"},
        {"type": "web_search_preview"},
        {"type": "file_search", "vector_store_ids": ["v"]},
        {"type": "custom", "name": "c"},  # the client runs it: not judged here
    )
    assert bt.check(found, runnable=RUNS_SEARCH, dropped=frozenset({"file_search"})) == ["file_search"]


def test_a_function_named_like_the_search_function_clashes():
    with pytest.raises(InvalidRequest) as err:
        bt.check(
            tools({"type": "web_search"}, {"type": "function", "name": "web_search"}),
            runnable=RUNS_SEARCH,
            dropped=frozenset(),
        )
    assert err.value.param == "tools[0]"


def test_offered_only_what_runs_with_the_include_it_concerns():
    entry = {"type": "web_search", "search_context_size": "high"}
    hosted = bt.offered(
        tools(entry, {"type": "web_search_preview"}), runnable=RUNS_SEARCH, include=[bt.SOURCES_INCLUDE, "x"]
    )
    assert hosted == {"web_search": HostedTool(type="web_search", tool=entry, include=[bt.SOURCES_INCLUDE])}
    assert bt.offered(tools(entry), runnable=frozenset()) == {}
    function = bt.chat_functions(hosted)[0]["function"]
    assert function["name"] == "web_search" and function["parameters"]["required"] == ["query"]


def test_functions_join_and_leave_the_chat_body():
    mine = {"type": "function", "function": {"name": "f"}}
    search = bt.chat_functions({"web_search": HostedTool(type="web_search")})
    assert bt.with_functions({"messages": []}, search) == {
        "messages": [],
        "tools": search,
        "tool_choice": "auto",
    }
    both = bt.with_functions({"messages": [], "tools": [mine], "tool_choice": "required"}, search)
    assert both["tools"] == [mine, *search] and both["tool_choice"] == "required"
    assert bt.without_functions(both, ["web_search"])["tools"] == [mine]
    only = bt.with_functions({"messages": [], "parallel_tool_calls": False}, search)
    assert bt.without_functions(only, ["web_search"]) == {"messages": []}
    forced = {**both, "tool_choice": {"type": "function", "function": {"name": "web_search"}}}
    assert bt.without_functions(forced, ["web_search"])["tool_choice"] == "auto"


def test_calls_left():
    assert bt.calls_left(None, 5) is None
    assert bt.calls_left(2, 1) == 1 and bt.calls_left(2, 3) == 0


@pytest.mark.parametrize(("size", "count"), [("low", 3), ("medium", 5), ("high", 10), (None, 5)])
def test_search_context_size_sets_how_much_is_read(size, count):
    tool = {"type": "web_search"} | ({"search_context_size": size} if size else {})
    request = bt.search_request(HostedTool(type="web_search", tool=tool), '{"query": " q "}')
    assert request.query == "q" and request.count == count


def test_location_and_domains_reach_the_request():
    tool = {
        "type": "web_search",
        "user_location": {
            "type": "approximate",
            "country": "DE",
            "city": "Berlin",
            "timezone": "Europe/Berlin",
        },
        "filters": {"allowed_domains": ["https://www.Example.com/x", "docs.python.org", "", 3]},
    }
    request = bt.search_request(HostedTool(type="web_search", tool=tool), json.dumps({"query": "q"}))
    assert request.allowed_domains == ("www.example.com", "docs.python.org")
    assert (request.country, request.city, request.region, request.timezone) == (
        "DE",
        "Berlin",
        None,
        "Europe/Berlin",
    )


@pytest.mark.parametrize("arguments", ["", "{}", '{"query": ""}', '{"query": 3}', "[1]", "not json"])
def test_a_call_naming_no_query_is_the_models_mistake(arguments):
    with pytest.raises(ValueError, match="query"):
        bt.search_request(HostedTool(type="web_search"), arguments)


def test_results_outside_the_allowed_domains_are_never_read():
    request = bt.SearchRequest(query="q", count=3, snippet_chars=5, allowed_domains=("example.com",))
    results = [
        bt.SearchResult("https://example.com/a", "A", "0123456789"),
        bt.SearchResult("https://evil-example.com/b", "B"),
        bt.SearchResult("https://docs.example.com/c", "C"),
        bt.SearchResult("https://example.com/a", "A again"),
        bt.SearchResult("javascript:alert(1)", "X"),
        bt.SearchResult("https://sub.example.com/d", "D"),
        bt.SearchResult("https://example.com/e", "E"),
    ]
    kept = bt.kept(results, request)
    assert [r.url for r in kept] == [
        "https://example.com/a",
        "https://docs.example.com/c",
        "https://sub.example.com/d",
    ]
    text = bt.results_text(request, kept)
    assert text.startswith('Web results for "q":\n\n[1] A\nURL: https://example.com/a\n01234\n\n[2] C')
    assert bt.results_text(request, []) == 'No results for "q".'


def test_the_items_action_lists_sources_only_when_included():
    results = [bt.SearchResult("https://a.com", "A")]
    assert bt.search_action(HostedTool(type="web_search"), "q", results) == {"type": "search", "query": "q"}
    included = HostedTool(type="web_search", include=[bt.SOURCES_INCLUDE])
    assert bt.search_action(included, "q", results)["sources"] == [{"type": "url", "url": "https://a.com"}]


def test_citations_span_the_links_and_urls_that_name_found_pages():
    annotate = bt.citer([{"url": "https://a.com/x", "title": "A"}, {"url": "https://b.org/", "title": "B"}])
    text = "See [the A page](https://a.com/x), https://b.org. Not [c](https://c.net) nor https://a.com/y."
    notes = annotate(text)
    assert [(text[n["start_index"] : n["end_index"]], n["url"], n["title"]) for n in notes] == [
        ("[the A page](https://a.com/x)", "https://a.com/x", "A"),
        ("https://b.org", "https://b.org", "B"),
    ]
    assert all(n["type"] == "url_citation" for n in notes)
    assert bt.citer([]) is None


def test_the_models_turn_for_the_history():
    output = [
        {"type": "message", "content": [{"type": "output_text", "text": "old"}]},
        {
            "type": "message",
            "content": [{"type": "output_text", "text": "Let me look. "}, {"type": "refusal"}],
        },
    ]
    text = bt.step_text(output, 1)
    message = bt.assistant_message(text, [{"call_id": "c", "name": "web_search", "arguments": "{}"}])
    assert message == {
        "role": "assistant",
        "content": "Let me look. ",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "web_search", "arguments": "{}"}}
        ],
    }
    assert bt.tool_message("c", "r") == {"role": "tool", "tool_call_id": "c", "content": "r"}


def test_a_forced_search_is_forced_once_and_only_when_it_runs():
    request = ResponseCreateRequest.model_validate(
        {
            "model": "m",
            "input": "x",
            "tools": [{"type": "web_search"}],
            "tool_choice": {"type": "web_search_preview"},
        }
    )
    assert bt.forces_hosted(request.tool_choice, request.tools, runnable=RUNS_SEARCH)
    assert not bt.forces_hosted(request.tool_choice, request.tools, runnable=frozenset())
    assert not bt.forces_hosted(
        request.tool_choice, tools({"type": "function", "name": "f"}), runnable=RUNS_SEARCH
    )
    assert not bt.forces_hosted("required", request.tools, runnable=RUNS_SEARCH)
    forced = {"messages": [], "tool_choice": bt.forcing("web_search")}
    assert bt.released(forced, ["web_search"])["tool_choice"] == "auto"
    assert bt.released({**forced, "tool_choice": bt.forcing("f")}, ["web_search"])[
        "tool_choice"
    ] == bt.forcing("f")


def test_an_allowed_tools_choice_offers_only_the_built_in_types_it_lists():
    def offered(*allowed: dict) -> dict:
        request = ResponseCreateRequest.model_validate(
            {
                "model": "m",
                "input": "x",
                "tools": [{"type": "web_search"}, {"type": "function", "name": "f"}],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": list(allowed)},
            }
        )
        return bt.offered(request.tools, runnable=RUNS_SEARCH, tool_choice=request.tool_choice)

    assert offered({"type": "function", "name": "f"}) == {}
    assert list(offered({"type": "web_search"})) == ["web_search"]

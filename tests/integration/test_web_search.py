"""Built-in web search run by the gateway, through the openai SDK and the Agents SDK: the scripted mock
LLM calls the search tool, the gateway searches (the mock's SearXNG stand-in), logs every step and
calls the model again with the results, until it answers citing them. On a stack of this module's
own: it kills workers, and it configures a search provider and which hosted tools are dropped."""

import json
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest
import yaml
from agents import Agent, OpenAIResponsesModel, Runner, WebSearchTool, set_tracing_disabled

from deploy.local.mock_llm import prompt_words
from deploy.local.stack import Stack

from .stacks import module_stack, one_model, terminal, until
from .test_conformance import SPEC, _as_openai_answers

set_tracing_disabled(True)  # tracing would export to OpenAI, which the test cannot (and must not) reach

KEY = "sk-web-search"
QUERY = "gateway news"
SEARCH = {"tool_calls": [{"id": "call_s1", "name": "web_search", "arguments": json.dumps({"query": QUERY})}]}
ANSWER = {"content": "Here is the news: ", "cite_results": True}
WEB_SEARCH = {"type": "web_search"}
# The mock's three default results for QUERY; the filter below keeps the first two.
EXAMPLE_COM = f"https://example.com/{QUERY.replace(' ', '-')}"
EXAMPLE_ORG = f"https://docs.example.org/{QUERY.replace(' ', '-')}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    tools = {
        "web_search": {"provider": "searxng", "url": mock_url, "timeout_s": 10},
        "unsupported": {"file_search": "drop"},
    }
    env = {"WS_KEY": KEY, "WORKER_ACK_WAIT_S": "2", "PROJECTION_WAIT_S": "2"}
    config = one_model("WS_KEY", "websearch", tools=tools)
    with module_stack(tmp_path_factory, mock_url, "websearch", config=config, env=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def check_cited(message) -> None:
    """Each url_citation spans a Markdown link to its URL in the text, with the result's title."""
    part = message.content[0]
    assert part.annotations, part
    for note in part.annotations:
        assert note.type == "url_citation"
        assert part.text[note.start_index : note.end_index] == f"[{note.title}]({note.url})"


def test_a_searched_answer_cites_its_sources(client, mock_llm):
    mock_llm.script(SEARCH, ANSWER)
    tool = {
        "type": "web_search_preview",
        "search_context_size": "low",
        "user_location": {"type": "approximate", "country": "FR", "city": "Paris"},
        "filters": {"allowed_domains": ["example.com", "example.org"]},
    }
    response = client.responses.create(
        model="m1", input="What is new?", tools=[tool], include=["web_search_call.action.sources"]
    )
    assert response.status == "completed"
    search, message = response.output
    assert search.type == "web_search_call" and search.status == "completed"
    assert search.action.type == "search" and search.action.query == QUERY
    # news.example.net is outside the allowed domains: neither read by the model nor listed.
    assert [s.url for s in search.action.sources] == [EXAMPLE_COM, EXAMPLE_ORG]
    assert message.type == "message"
    check_cited(message)
    assert [n.url for n in message.content[0].annotations] == [EXAMPLE_COM, EXAMPLE_ORG]
    assert response.tools[0].type == "web_search_preview"  # echoed as sent

    # The provider got the query with the domain filter and the country.
    searched = mock_llm.searches()
    assert len(searched) == 1
    assert searched[0]["params"]["q"] == f"{QUERY} (site:example.com OR site:example.org)"
    assert searched[0]["params"]["language"] == "all-FR"
    # The model was offered the search as a function, then read the results after its own call.
    first, second = (r["body"] for r in mock_llm.requests())
    assert [t["function"]["name"] for t in first["tools"]] == ["web_search"]
    assistant, results = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_s1"
    assert results["role"] == "tool" and results["tool_call_id"] == "call_s1"
    assert EXAMPLE_COM in results["content"] and "news.example.net" not in results["content"]
    # Usage adds up both chat calls.
    assert response.usage.input_tokens == prompt_words(first) + prompt_words(second)

    # The projection stores the loop's output items.
    stored = client.responses.retrieve(response.id)
    assert [item.model_dump() for item in stored.output] == [item.model_dump() for item in response.output]


def test_the_mock_model_searches_unscripted_as_on_dev_up(client, mock_llm):
    """What `./dev up` does with a web_search request: the mock LLM, offered the search, calls it with
    the user's text, then echoes that text citing the mock provider's results."""
    response = client.responses.create(model="m1", input=QUERY, tools=[WEB_SEARCH])
    search, message = response.output
    assert search.type == "web_search_call" and search.action.query == QUERY
    assert message.content[0].text.startswith(f"echo: {QUERY} [")
    check_cited(message)
    assert len(message.content[0].annotations) == 3


def test_sources_only_when_included(client, mock_llm):
    mock_llm.script(SEARCH, ANSWER)
    response = client.responses.create(model="m1", input="news?", tools=[WEB_SEARCH])
    assert response.output[0].action.sources is None
    assert len(response.output[1].content[0].annotations) == 3


def test_the_stream_shows_each_step_in_order(client, mock_llm):
    mock_llm.script(SEARCH, ANSWER)
    events = list(client.responses.create(model="m1", input="news?", tools=[WEB_SEARCH], stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:7] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    assert events[2].item.type == events[6].item.type == "web_search_call"
    assert events[6].item.status == "completed" and events[6].item.action.query == QUERY
    assert types[7] == "response.output_item.added" and events[7].item.type == "message"
    annotations = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert [a.annotation_index for a in annotations] == [0, 1, 2]
    assert types.index("response.output_text.annotation.added") < types.index("response.output_text.done")
    assert types[-1] == "response.completed"
    assert "function_call" not in {getattr(e, "item", None) and e.item.type for e in events}
    final = events[-1].response
    check_cited(final.output[1])
    assert final.output[0].id == events[2].item.id


def test_function_tools_of_the_same_turn_end_the_loop(client, mock_llm):
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    both = {"tool_calls": [*SEARCH["tool_calls"], {"id": "call_w", "name": "get_weather", "arguments": "{}"}]}
    mock_llm.script(both)
    response = client.responses.create(model="m1", input="news and weather", tools=[WEB_SEARCH, weather])
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["function_call", "web_search_call"]
    assert response.output[0].name == "get_weather" and response.output[0].call_id == "call_w"
    assert len(mock_llm.requests()) == 1  # the client runs its function; the model is not called again


def test_max_tool_calls_stops_offering_the_tool(client, mock_llm):
    mock_llm.script(SEARCH, {"content": "enough"})
    response = client.responses.create(model="m1", input="news?", tools=[WEB_SEARCH], max_tool_calls=1)
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    second = mock_llm.requests()[1]["body"]
    assert "tools" not in second and "tool_choice" not in second


def test_a_failing_provider_fails_the_call_not_the_response(client, mock_llm):
    mock_llm.script(SEARCH, {"content": "I could not search."})
    mock_llm.script_search({"status": 502})
    response = client.responses.create(model="m1", input="news?", tools=[WEB_SEARCH])
    assert response.status == "completed"
    assert response.output[0].status == "failed"
    tool_message = mock_llm.requests()[1]["body"]["messages"][-1]
    assert tool_message["content"] == "The search failed: The search provider answered HTTP 502."


@pytest.mark.parametrize("streamed", [False, True])
async def test_agents_sdk_web_search_tool(stack, mock_llm, streamed):
    mock_llm.script(SEARCH, ANSWER)
    async with openai.AsyncOpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        model = OpenAIResponsesModel(model="m1", openai_client=sdk)
        agent = Agent(name="researcher", instructions="Search first.", model=model, tools=[WebSearchTool()])
        if streamed:
            result = Runner.run_streamed(agent, "What is new?")
            raw_types = [e.data.type async for e in result.stream_events() if e.type == "raw_response_event"]
            assert "response.web_search_call.completed" in raw_types
            assert "response.output_text.annotation.added" in raw_types
        else:
            result = await Runner.run(agent, "What is new?")
    assert result.final_output.startswith("Here is the news: [")
    assert EXAMPLE_COM in result.final_output
    raw = [item.raw_item for item in result.new_items]
    assert [getattr(r, "type", None) for r in raw] == ["web_search_call", "message"]
    sent = mock_llm.requests()[0]["body"]
    assert [t["function"]["name"] for t in sent["tools"]] == ["web_search"]
    assert len(mock_llm.requests()) == 2  # the gateway ran the loop: two chat calls for the SDK's one request


# Durability: background, kill -9, cancel, resume ---------------------------------------------------


def test_a_worker_killed_mid_loop_the_loop_still_completes(stack, client, mock_llm):
    """The worker dies while the search runs (between two chat calls): the tool step is redelivered to
    the restarted worker, which searches again and goes on; the client sees one response, in order."""
    mock_llm.script(SEARCH, ANSWER)
    mock_llm.script_search({"delay_s": 30})  # the first search outlives its worker; the rerun's answers
    started = client.responses.create(model="m1", input="news?", tools=[WEB_SEARCH], background=True)
    until(lambda: mock_llm.searches(), "the worker began the search")
    stack.kill("worker")
    stack.restart("worker")
    final = terminal(client, started.id)
    assert final.status == "completed"
    assert [item.type for item in final.output] == ["web_search_call", "message"]
    check_cited(final.output[1])
    assert len(mock_llm.searches()) == 2  # the step ran again
    assert len(mock_llm.requests()) == 2  # but no chat call did
    events = list(client.responses.retrieve(started.id, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events].count("response.created") == 1
    assert events[-1].type == "response.completed"


def test_cancel_mid_loop_stops_before_the_next_chat_call(client, mock_llm):
    mock_llm.script(SEARCH, ANSWER)
    mock_llm.script_search({"delay_s": 2})
    started = client.responses.create(model="m1", input="news?", tools=[WEB_SEARCH], background=True)
    until(lambda: mock_llm.searches(), "the worker began the search")
    cancelled = client.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    final = terminal(client, started.id)
    assert final.status == "cancelled"
    assert [item.type for item in final.output] == ["web_search_call"]
    events = list(client.responses.retrieve(started.id, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    # The tool step ended it, right after its search: no chat call was handed over.
    assert [e.type for e in events[-2:]] == ["response.output_item.done", "response.cancelled"]
    assert len(mock_llm.requests()) == 1


def test_a_stream_resumes_mid_loop(client, mock_llm):
    mock_llm.script(SEARCH, ANSWER)
    mock_llm.script_search({"delay_s": 1})
    first_part = []
    with client.responses.create(
        model="m1", input="news?", tools=[WEB_SEARCH], background=True, stream=True
    ) as stream:
        for event in stream:
            first_part.append(event)
            if event.type == "response.web_search_call.searching":
                break  # the client goes away while the gateway searches
    rest = list(
        client.responses.retrieve(
            first_part[0].response.id, stream=True, starting_after=first_part[-1].sequence_number
        )
    )
    events = first_part + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert rest[0].type == "response.web_search_call.completed"
    assert events[-1].type == "response.completed"
    check_cited(events[-1].response.output[1])


# Nothing silently ignored ---------------------------------------------------------------------------


def test_a_hosted_tool_the_gateway_cannot_run_is_refused(client, mock_llm):
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model="m1",
            input="x",
            tools=[WEB_SEARCH, {"type": "code_interpreter", "container": {"type": "auto"}}],
        )
    assert err.value.body["code"] == "unsupported_tool"
    assert err.value.body["param"] == "tools[1].type"
    assert "code_interpreter" in err.value.message
    assert mock_llm.requests() == []


def test_a_dropped_hosted_tool_is_echoed_never_offered_and_counted(stack, client, mock_llm):
    def dropped() -> float:
        metrics = httpx.get(f"{stack.api_url}/metrics").text
        name = 'gateway_builtin_tools_dropped_total{type="file_search"}'
        line = next((m for m in metrics.splitlines() if m.startswith(name)), None)
        return float(line.split()[-1]) if line else 0.0

    before = dropped()
    tool = {"type": "file_search", "vector_store_ids": ["vs_1"]}
    response = client.responses.create(model="m1", input="x", tools=[tool])
    assert response.status == "completed" and response.tools[0].type == "file_search"
    assert "tools" not in mock_llm.requests()[0]["body"]
    assert dropped() == before + 1


def test_a_tool_choice_forcing_the_search_forces_it_once(client, mock_llm):
    mock_llm.script(SEARCH, ANSWER)
    response = client.responses.create(
        model="m1",
        input="news?",
        tools=[{"type": "web_search_preview"}],
        tool_choice={"type": "web_search_preview"},
    )
    assert response.status == "completed" and response.tool_choice.type == "web_search_preview"
    first, second = (r["body"] for r in mock_llm.requests())
    assert first["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    assert second["tool_choice"] == "auto"


def test_every_event_and_the_response_match_openais_spec(stack, mock_llm):
    """The wire JSON itself (not the SDK's lenient parse) against the spec's schemas."""
    spec = _as_openai_answers(yaml.safe_load(SPEC.read_text()))
    event_schema = {**spec, "$ref": "#/components/schemas/ResponseStreamEvent"}
    mock_llm.script(SEARCH, ANSWER)
    body = {
        "model": "m1",
        "input": "news?",
        "tools": [WEB_SEARCH],
        "include": ["web_search_call.action.sources"],
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream(
        "POST", f"{stack.api_url}/v1/responses", json=body, headers=headers, timeout=60
    ) as reply:
        events = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    assert {"response.web_search_call.searching", "response.output_text.annotation.added"} <= {
        e["type"] for e in events
    }
    for event in events:
        jsonschema.validate(event, event_schema)

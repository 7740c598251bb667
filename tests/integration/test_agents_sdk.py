"""The OpenAI Agents SDK runs a multi-tool loop against the gateway, plain and streamed: two tool calls
in turn, each answered by the SDK's own function_call_output, then the final answer."""

import json

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

set_tracing_disabled(True)  # tracing would export to OpenAI, which the test cannot (and must not) reach

SCRIPT = (
    {"tool_calls": [{"id": "call_w", "name": "get_weather", "arguments": '{"city":"Paris"}'}]},
    {"tool_calls": [{"id": "call_t", "name": "get_time", "arguments": '{"city":"Paris"}'}]},
    {"content": "Sunny, and it is 10:00 in Paris."},
)


@pytest.fixture
def agent(async_client):
    calls: list[tuple[str, str]] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(("get_weather", city))
        return f"sunny in {city}"

    @function_tool
    def get_time(city: str) -> str:
        """The local time in a city."""
        calls.append(("get_time", city))
        return "10:00"

    model = OpenAIResponsesModel(model="m1", openai_client=async_client)
    built = Agent(name="assistant", instructions="Use the tools.", model=model, tools=[get_weather, get_time])
    built.calls = calls  # type: ignore[attr-defined]
    return built


def _check_loop(agent, mock_llm) -> None:
    assert agent.calls == [("get_weather", "Paris"), ("get_time", "Paris")]
    sent = mock_llm.requests()
    assert len(sent) == 3
    assert all(r["body"]["model"] == "mock-1" for r in sent)
    assert {t["function"]["name"] for t in sent[0]["body"]["tools"]} == {"get_weather", "get_time"}
    last = sent[-1]["body"]["messages"]
    assert last[0] == {"role": "system", "content": "Use the tools."}
    assert last[1] == {"role": "user", "content": "Weather and time in Paris?"}
    # Each tool call went back to the backend with the tool's output, paired by call id.
    calls = [m for m in last if m["role"] == "assistant"]
    assert [c["tool_calls"][0]["id"] for c in calls] == ["call_w", "call_t"]
    assert [json.loads(c["tool_calls"][0]["function"]["arguments"]) for c in calls] == [{"city": "Paris"}] * 2
    tools = [m for m in last if m["role"] == "tool"]
    assert tools == [
        {"role": "tool", "tool_call_id": "call_w", "content": "sunny in Paris"},
        {"role": "tool", "tool_call_id": "call_t", "content": "10:00"},
    ]


async def test_agent_runs_a_tool_loop(agent, mock_llm):
    mock_llm.script(*SCRIPT)
    result = await Runner.run(agent, "Weather and time in Paris?")
    assert result.final_output == "Sunny, and it is 10:00 in Paris."
    _check_loop(agent, mock_llm)


async def test_agent_runs_a_streamed_tool_loop(agent, mock_llm):
    mock_llm.script(*SCRIPT)
    result = Runner.run_streamed(agent, "Weather and time in Paris?")
    items = [
        event.item.type async for event in result.stream_events() if event.type == "run_item_stream_event"
    ]
    assert result.final_output == "Sunny, and it is 10:00 in Paris."
    assert items == [
        "tool_call_item",
        "tool_call_output_item",
        "tool_call_item",
        "tool_call_output_item",
        "message_output_item",
    ]
    _check_loop(agent, mock_llm)

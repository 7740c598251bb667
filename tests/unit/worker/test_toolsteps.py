"""The tool loop's steps against an in-memory log: a chat call that ends calling a hosted function hands
a tool step over (the client sees no function call), and a tool step runs its calls, logs their items
and hands the next chat call over with the results, or ends the response."""

import asyncio
import json

import httpx
import pytest
from prometheus_client import REGISTRY

from services.worker.builtin.base import StepContext, StepResult
from services.worker.runs import Run
from services.worker.toolsteps import ToolStep, tool_calls
from shared.domain import builtin_tools, stream
from shared.events import ChatCallRequested, Event, HostedCall, HostedTool, ToolCallsRequested, ToolLoop

from .test_runs import BOUND_S, PATIENCE, MemoryLog, call, execute

SEARCH = {"web_search": HostedTool(type="web_search")}


class LoopLog(MemoryLog):
    def __init__(self, ack_delay_s: float = 0.0) -> None:
        super().__init__(ack_delay_s)
        self.handed: list[Event] = []

    async def hand_off(self, event: Event) -> None:
        self.handed.append(event)


class FakeSearch:
    """Shows an item per call and answers with the query."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def run(self, hosted_call: HostedCall, hosted: HostedTool, step: StepContext) -> StepResult:
        query = json.loads(hosted_call.arguments)["query"]
        self.queries.append(query)
        index, events = stream.open_item(step.state, builtin_tools.web_search_item(query), "ws")
        await step.emit([*events, *stream.close_item(step.state, index, "completed")])
        return StepResult(
            message=f"results for {query}", sources=[{"url": f"https://x/{query}", "title": query}]
        )


def searching_call(**loop: object) -> ChatCallRequested:
    return call().model_copy(update={"loop": ToolLoop(hosted=SEARCH, **loop)})


def tool_sse() -> bytes:
    delta = {
        "tool_calls": [
            {"index": 0, "id": "c1", "function": {"name": "web_search", "arguments": '{"query":"q"}'}}
        ]
    }
    chunks = [
        {"choices": [{"index": 0, "delta": delta}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


async def test_a_chat_call_that_calls_a_hosted_function_hands_a_tool_step_over():
    log = LoopLog()
    headers = {"content-type": "text/event-stream"}
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(
            lambda _: httpx.Response(200, stream=httpx.ByteStream(tool_sse()), headers=headers)
        )
    )
    await execute(Run(searching_call()), log, client)
    assert log.types() == ["response.created", "response.in_progress"]  # no function call shown, no end
    (handed,) = log.handed
    assert isinstance(handed, ToolCallsRequested)
    assert handed.calls == [HostedCall(call_id="c1", name="web_search", arguments='{"query":"q"}')]
    assert handed.assistant["tool_calls"][0]["id"] == "c1" and not handed.end_after
    assert handed.next_call.loop.step == 2 and handed.next_call.sequence_start == 2


def step_request(*queries: str, **loop: object) -> ToolCallsRequested:
    state = stream.resume(call().response, sequence_start=2)
    state.hosted_calls = {
        n: {"call_id": f"c{n}", "name": "web_search", "arguments": json.dumps({"query": q})}
        for n, q in enumerate(queries)
    }
    return tool_calls(searching_call(**loop), state, cost_usd=0.5)


async def run_step(step: ToolStep, log: LoopLog, search: FakeSearch, **extra) -> None:
    done = step.execute(executors={"web_search": search}, log=log, max_steps=8, patience=PATIENCE, **extra)
    await asyncio.wait_for(done, BOUND_S)


async def test_a_tool_step_logs_its_items_and_hands_the_next_chat_call_over():
    log, search = LoopLog(), FakeSearch()
    await run_step(ToolStep(step_request("a", "b")), log, search)
    assert search.queries == ["a", "b"]
    assert log.numbers() == [2, 3, 4, 5]  # two items, added and done, numbered on from the chat call
    (next_call,) = log.handed
    assert (
        isinstance(next_call, ChatCallRequested)
        and next_call.loop.step == 2
        and next_call.sequence_start == 6
    )
    assert [m["role"] for m in next_call.chat["messages"]] == ["user", "assistant", "tool", "tool"]
    assert next_call.chat["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "results for b",
    }
    assert next_call.loop.calls_made == 2 and next_call.loop.cost_usd == 0.5
    assert [s["title"] for s in next_call.loop.sources] == ["a", "b"]
    assert [i["type"] for i in next_call.response["output"]] == ["web_search_call", "web_search_call"]


async def test_calls_past_max_tool_calls_are_not_run_and_the_tool_is_no_longer_offered():
    log, search = LoopLog(), FakeSearch()
    request = step_request("a", "b")
    request = request.model_copy(
        update={
            "next_call": request.next_call.model_copy(
                update={"response": {**request.next_call.response, "max_tool_calls": 1}}
            )
        }
    )
    request.next_call.chat["tools"] = builtin_tools.chat_functions(SEARCH)
    labels = {"type": "web_search", "outcome": "not_run"}
    before = REGISTRY.get_sample_value("gateway_builtin_tool_calls_total", labels) or 0
    await run_step(ToolStep(request), log, search)
    assert search.queries == ["a"]
    assert REGISTRY.get_sample_value("gateway_builtin_tool_calls_total", labels) == before + 1
    (next_call,) = log.handed
    assert next_call.chat["messages"][-1]["content"] == builtin_tools.NOT_RUN
    assert "tools" not in next_call.chat and next_call.loop.hosted == {}


async def test_a_cancelled_step_ends_the_response_and_hands_nothing_over():
    log, search = LoopLog(), FakeSearch()
    step = ToolStep(step_request("a"))
    step.cancel()
    await run_step(step, log, search)
    assert search.queries == [] and log.handed == []
    assert log.types() == ["response.cancelled"]


async def test_end_after_completes_the_response_with_the_whole_cost():
    log, search = LoopLog(), FakeSearch()
    request = step_request("a").model_copy(update={"end_after": True})
    await run_step(ToolStep(request), log, search)
    assert log.handed == []
    assert log.types()[-1] == "response.completed" and log.messages[-1].cost_usd == 0.5


async def test_a_step_run_again_logs_only_what_is_not_logged_yet():
    log, search = LoopLog(), FakeSearch()
    await run_step(ToolStep(step_request("a")), log, search, after=2)
    assert log.numbers() == [3] and len(log.handed) == 1


class HangingTool:
    """Shows an item (added, in progress), then waits for a server that never answers. ``started`` is
    set once it emits (``while_emitting``: as it begins to)."""

    def __init__(self, item_type: str, *, while_emitting: bool = False) -> None:
        self.item_type = item_type
        self.while_emitting = while_emitting
        self.started = asyncio.Event()

    async def run(self, hosted_call: HostedCall, hosted: HostedTool, step: StepContext) -> StepResult:
        item = {"type": self.item_type, "status": "in_progress"}
        index, events = stream.open_item(step.state, item, "it")
        events.append(stream.item_event(step.state, "response.mcp_call.in_progress", index))
        if self.while_emitting:
            self.started.set()
        await step.emit(events)
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("a cancel stops it first")


@pytest.mark.parametrize(("item_type", "status"), [("mcp_call", "incomplete"), ("web_search_call", "failed")])
async def test_a_cancel_stops_the_call_in_flight_and_closes_its_item(item_type, status):
    log, tool = LoopLog(), HangingTool(item_type)
    step = ToolStep(step_request("a"))
    running = asyncio.ensure_future(
        step.execute(executors={"web_search": tool}, log=log, max_steps=8, patience=PATIENCE)
    )
    await asyncio.wait_for(tool.started.wait(), BOUND_S)
    step.cancel()
    await asyncio.wait_for(running, BOUND_S)
    assert log.types() == [
        "response.output_item.added",
        "response.mcp_call.in_progress",
        "response.output_item.done",
        "response.cancelled",
    ]
    assert log.numbers() == [2, 3, 4, 5] and log.handed == []
    final = log.messages[-1].payload["response"]
    assert [(i["type"], i["status"]) for i in final["output"]] == [(item_type, status)]


async def test_a_cancel_while_the_tool_emits_lets_its_events_be_logged_first():
    """The log acknowledges late (within patience), so the tool is still emitting when the cancel
    comes: what it numbered is logged all the same, before the ending, and no number is left out."""
    log, tool = LoopLog(ack_delay_s=0.03), HangingTool("mcp_call", while_emitting=True)
    step = ToolStep(step_request("a"))
    running = asyncio.ensure_future(
        step.execute(executors={"web_search": tool}, log=log, max_steps=8, patience=PATIENCE)
    )
    await asyncio.wait_for(tool.started.wait(), BOUND_S)
    await asyncio.sleep(0)  # the tool is inside emit, waiting for the first event's ack
    step.cancel()
    await asyncio.wait_for(running, BOUND_S)
    assert log.numbers() == [2, 3, 4, 5]
    assert log.types()[1:] == [
        "response.mcp_call.in_progress",
        "response.output_item.done",
        "response.cancelled",
    ]

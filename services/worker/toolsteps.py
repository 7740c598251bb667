"""The built-in tool loop: a chat call whose model called hosted functions (web search, MCP) hands
them over as a ``ToolCallsRequested`` on the response's chat call subject; the replica that takes it
runs them (``builtin/``), logs their items and events, and hands the next chat call over with their
results appended to its messages. Every step is a durable message and every event is logged before
the next step is, so a killed worker's step is redelivered and run again (events logged already are
not repeated); a cancel stops the call in flight (an MCP call may take a server's whole timeout, and
the client's cancel waits for the response to end) and leaves its item ``incomplete``, or ``failed``
where OpenAI's spec allows no other ending; the loop ends when the model answers, the same turn
called the client's functions (``end_after``: they come back as ``function_call`` items), or a tool
asks to pause (an approval). ``max_tool_calls`` counts the model's built-in calls; once spent, or
once ``max_steps`` is near, the next chat call is offered no built-in tool, so the model answers."""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from services.worker import ledger, metrics
from services.worker.builtin.base import Executor, StepContext, StepResult
from services.worker.ledger import PATIENCE, Ledger, Patience
from services.worker.outbox import Outbox
from shared.domain import builtin_tools, stream
from shared.events import (
    TERMINAL_TYPES,
    ChatCallRequested,
    Event,
    HostedCall,
    ResponseStreamed,
    ToolCallsRequested,
)
from shared.ids import derived_id

_logger = logging.getLogger(__name__)
# How an item a cancel interrupted ends, where OpenAI's spec has no ``incomplete`` for its type.
_INTERRUPTED_STATUS = {"web_search_call": "failed"}


class Log(ledger.Log, Protocol):
    async def hand_off(self, event: Event) -> None:
        """Append the loop's next step and wait until the stream stored it."""
        ...


def loop_state(
    call: ChatCallRequested, *, opens: bool, **options: Any
) -> tuple[stream.StreamState, list[dict[str, Any]]]:
    """The stream state a step of ``call``'s response works on: a first step opens the response
    (created, in_progress), a later one resumes it; either way the hosted functions are kept from the
    client, the earlier steps' usage is added up, and the answer's text cites the pages found."""
    if opens:
        state, opening = stream.start(call.response, sequence_start=call.sequence_start, **options)
    else:
        state, opening = stream.resume(call.response, sequence_start=call.sequence_start, **options), []
    state.hosted = frozenset(call.loop.hosted)
    state.usage_before = call.loop.usage
    state.annotate = builtin_tools.citer(call.loop.sources)
    return state, opening


def wants_tools(state: stream.StreamState) -> bool:
    """The model's turn ended calling hosted functions (a turn cut at max tokens is not trusted to)."""
    return bool(state.hosted_calls) and state.finish_reason != "length"


def tool_calls(
    call: ChatCallRequested, state: stream.StreamState, cost_usd: float | None
) -> ToolCallsRequested:
    """The hand-over of a chat call that ended calling hosted functions: their calls, the model's turn
    for the history, and the next chat call as it stands before they ran."""
    step = call.loop.step + 1
    calls = [HostedCall(**c) for _, c in sorted(state.hosted_calls.items())]
    text = builtin_tools.step_text(state.output, state.first_index)
    client_calls = any(item["type"] == "function_call" for item in state.output[state.first_index :])
    loop = call.loop.model_copy(
        update={
            "step": step + 1,
            "usage": stream.summed_usage(call.loop.usage, state.usage),
            "cost_usd": added(call.loop.cost_usd, cost_usd),
        }
    )
    next_call = call.model_copy(
        update={
            "event_id": derived_id("evt", call.response_id, "call", step + 1),
            "response": stream.snapshot(state),
            "sequence_start": state.sequence,
            "loop": loop,
        }
    )
    return ToolCallsRequested(
        event_id=derived_id("evt", call.response_id, "tools", step),
        response_id=call.response_id,
        tenant=call.tenant,
        calls=calls,
        assistant=builtin_tools.assistant_message(text, [c.model_dump() for c in calls]),
        end_after=client_calls,
        next_call=next_call,
    )


def added(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def interrupted(state: stream.StreamState) -> list[dict[str, Any]]:
    """Close the items of this step that a cancel left open (output_item.done)."""
    events: list[dict[str, Any]] = []
    for index in range(state.first_index, len(state.output)):
        item = state.output[index]
        if item.get("status") == "in_progress":
            events += stream.close_item(state, index, _INTERRUPTED_STATUS.get(item["type"], "incomplete"))
    return events


def step_of(event: Event) -> int | None:
    """The loop step a message on a chat call subject is (None for anything else)."""
    if isinstance(event, ToolCallsRequested):
        return event.next_call.loop.step - 1
    if isinstance(event, ChatCallRequested):
        return event.loop.step
    return None


class ToolStep:
    """A tool step in flight on this worker; ``cancel`` may be called from any handler."""

    def __init__(self, request: ToolCallsRequested) -> None:
        self.request = request
        self.call = request.next_call
        self._cancelled = False
        self._running: asyncio.Task[StepResult] | None = None  # the call in flight
        self._emitting: asyncio.Future[None] | None = None  # its latest events, being logged

    @property
    def step(self) -> int:
        return self.call.loop.step - 1

    def cancel(self) -> None:
        self._cancelled = True
        if self._running is not None:
            self._running.cancel()

    async def execute(
        self,
        *,
        executors: Mapping[str, Executor],
        log: Log,
        max_steps: int,
        after: int | None = None,
        patience: Patience = PATIENCE,
    ) -> None:
        """Run the calls, log their events (those after ``after``) and hand the next chat call over,
        or end the response; returns once JetStream stored everything."""
        request, call = self.request, self.call
        outbox = Outbox(call, Ledger(log, patience), after=after, wrap=self._logged)
        state, opening = loop_state(call, opens=self.step == 0)
        await outbox.emit(opening)
        context = StepContext(state=state, emit=functools.partial(self._emit, outbox), call=call)
        messages = [request.assistant] if request.assistant else []
        hosted, sources, functions = dict(call.loop.hosted), list(call.loop.sources), []
        made, pause = call.loop.calls_made, request.end_after
        limit = call.response.get("max_tool_calls")
        for hosted_call in request.calls:
            if self._cancelled:
                break
            # The model's own calls count toward max_tool_calls; what the gateway does of itself does not.
            spent = request.assistant is not None and builtin_tools.calls_left(limit, made) == 0
            result = await self._interruptible(
                self._run(hosted_call, hosted, executors, context, spent=spent)
            )
            kind = hosted[hosted_call.name].type if hosted_call.name in hosted else "unknown"
            metrics.BUILTIN_TOOL_CALLS.labels(kind, result.outcome if result else "cancelled").inc()
            if result is None:
                await outbox.emit(interrupted(state))
                break
            made += int(result.counts)
            if result.message is not None:
                messages.append(builtin_tools.tool_message(hosted_call.call_id, result.message))
            functions += result.functions
            hosted.update(result.hosted)
            sources += result.sources
            pause = pause or result.pause
        if self._cancelled or pause:
            await outbox.emit(stream.cancel(state) if self._cancelled else stream.finish(state))
            await outbox.confirm()
            return
        await outbox.confirm()
        chat = builtin_tools.with_functions(
            {**call.chat, "messages": [*call.chat["messages"], *messages]}, functions
        )
        chat = builtin_tools.released(chat, hosted)  # a tool_choice forcing a built-in tool held once
        if builtin_tools.calls_left(limit, made) == 0 or call.loop.step + 1 >= max_steps:
            # The next chat call answers: its model is offered no built-in tool, and a call it makes to
            # one anyway reaches the client as the function call it is.
            chat, hosted = builtin_tools.without_functions(chat, hosted), {}
        loop = call.loop.model_copy(update={"calls_made": made, "sources": sources, "hosted": hosted})
        await log.hand_off(
            call.model_copy(
                update={
                    "chat": chat,
                    "response": stream.snapshot(state),
                    "sequence_start": state.sequence,
                    "loop": loop,
                }
            )
        )

    async def _interruptible(self, work: Awaitable[StepResult]) -> StepResult | None:
        """``work``'s result, or None if a cancel stopped it; once it returns, every event the work
        emitted is logged, so the step numbers on densely."""
        self._running = task = asyncio.ensure_future(work)
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:  # the worker itself stops: so does the call
            task.cancel()
            raise
        finally:
            self._running = None
        if not task.cancelled():
            return task.result()
        if self._emitting is not None:
            await self._emitting
        return None

    async def _emit(self, outbox: Outbox, events: list[dict[str, Any]]) -> None:
        """Log an executor's events to the end even if a cancel stops the executor meanwhile: they
        are numbered already, and a number left out would be a hole in the stream."""
        self._emitting = asyncio.ensure_future(outbox.emit(events))
        await asyncio.shield(self._emitting)

    async def _run(
        self,
        hosted_call: HostedCall,
        hosted: Mapping[str, Any],
        executors: Mapping[str, Executor],
        context: StepContext,
        *,
        spent: bool,
    ) -> StepResult:
        entry = hosted.get(hosted_call.name)
        executor = executors.get(entry.type) if entry is not None else None
        if spent:
            return StepResult(message=builtin_tools.NOT_RUN, counts=False, outcome="not_run")
        if entry is None or executor is None:
            # A replica configured without that tool (a config rolled out half-way): the model hears it.
            _logger.warning("%s: no executor for %s", self.call.response_id, hosted_call.name)
            message = f"The tool {hosted_call.name!r} is not available."
            return StepResult(message=message, counts=False, outcome="unavailable")
        return await executor.run(hosted_call, entry, context)

    def _logged(self, payload: dict[str, Any], http_error: dict[str, Any] | None = None) -> ResponseStreamed:
        call = self.call
        served = {"cost_usd": call.loop.cost_usd, "key_id": call.key_id}
        served = served if payload["type"] in TERMINAL_TYPES else {}
        return ResponseStreamed.of(
            payload, response_id=call.response_id, tenant=call.tenant, http_error=http_error, **served
        )

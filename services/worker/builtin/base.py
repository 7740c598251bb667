"""What a built-in tool's executor is to the tool loop (``services/worker/toolsteps.py``): it runs one
call the model made, shows its output item to the client through the step's events, and says what
goes back to the model."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.domain.stream import StreamState
from shared.events import ChatCallRequested, HostedCall, HostedTool


class ToolFailed(Exception):
    """The tool could not do what the call asked (the provider failed, the arguments were wrong): the
    item ends ``failed`` and the model reads the message instead of a result."""


@dataclass
class StepContext:
    """One step's means: ``state`` numbers the events (``stream.open_item``, ``item_event``,
    ``close_item``) and ``emit`` logs them in order; ``call`` is the chat call the step leads to, as
    it stands (the response, the tools on offer, the loop's sources)."""

    state: StreamState
    emit: Callable[[list[dict[str, Any]]], Awaitable[None]]
    call: ChatCallRequested


@dataclass
class StepResult:
    """What one call gives the model and the loop. ``message``: the chat tool message's content (None:
    none, for an action the model did not ask for, such as a listing). ``functions`` and ``hosted``:
    chat functions to offer from now on and what they stand for. ``sources``: pages found, which the
    answer may cite. ``counts``: whether it counts toward ``max_tool_calls``. ``pause``: end the
    response after this step (an approval the client must give). ``outcome``: what the worker's
    ``gateway_builtin_tool_calls`` metric counts it as."""

    message: str | None
    functions: list[dict[str, Any]] = field(default_factory=list)
    hosted: dict[str, HostedTool] = field(default_factory=dict)
    sources: list[dict[str, str]] = field(default_factory=list)
    counts: bool = True
    pause: bool = False
    outcome: str = "ok"


class Executor(Protocol):
    """Runs calls to one kind of built-in tool. A step may run again after a crash (the loop is
    at-least-once): an executor with side effects must tolerate that. A cancel stops ``run`` at any
    await but ``emit``'s: build events right before emitting them (no await between), so that what is
    numbered is logged; the loop closes the items it left open."""

    async def run(self, call: HostedCall, hosted: HostedTool, step: StepContext) -> StepResult: ...

"""The translator's decision, pure: a requested response and what was loaded for it (its chain, the
items it references) in, the events to log out: the chat call, or, when the input cannot be
translated, the events of a response that failed before reaching any backend."""

from typing import Any

from shared import reasoning_blobs
from shared.domain import builtin_tools, mcp, requests, sequence, stream
from shared.domain.history import Folded, chain_items
from shared.domain.items import OpenReasoning
from shared.errors import GatewayError, InvalidRequest
from shared.events import ChatCallRequested, Event, ResponseRequested, ResponseStreamed, ToolLoop
from shared.ids import derived_id
from shared.readmodel.chains import Loaded

# What a client is told when the gateway itself failed; the cause is in the translator's log and
# the dead letter, never in the response.
SERVER_ERROR = GatewayError("The server had an error while processing your request.")


def chat_call(
    event: ResponseRequested,
    loaded: Loaded,
    *,
    replay_reasoning: bool,
    runnable: frozenset[str] = frozenset(),
    open_reasoning: OpenReasoning | None = None,
    folded: Folded | None = None,
) -> list[Event]:
    """``runnable``: the built-in tool types this gateway runs (offered to the model as functions);
    ``open_reasoning`` opens the reasoning a stateless client hands back; ``folded`` is
    ``loaded.history`` folded already (``folds.py``)."""
    request = event.request
    # A tool_choice forcing a built-in tool forces its function, on the first chat call only.
    forced = builtin_tools.forces_hosted(request.tool_choice, request.tools, runnable=runnable)
    try:
        chat = requests.build_chat_request(
            request.model_copy(update={"tool_choice": "auto"}) if forced else request,
            loaded.history if folded is None else folded,
            references=loaded.references,
            replay_reasoning=replay_reasoning,
            open_reasoning=open_reasoning,
        )
    except InvalidRequest as error:
        # A non-stream client gets the 400 it would have had, had the api been able to see the problem.
        return failed_events(event, error, http_error=error.http_error())
    response = requests.build_response(request, response_id=event.response_id, created_at=event.created_at)
    # Built-in tools the gateway runs are offered as functions; the worker runs the model's calls.
    hosted = builtin_tools.offered(
        request.tools, runnable=runnable, include=request.include, tool_choice=request.tool_choice
    )
    chat = builtin_tools.with_functions(chat, builtin_tools.chat_functions(hosted))
    if forced:
        chat = {**chat, "tool_choice": builtin_tools.forcing(builtin_tools.WEB_SEARCH_FUNCTION)}
    first = None
    if "mcp" in runnable:
        current = [item.model_dump(mode="json", exclude_none=True) for item in request.input_items()]
        try:
            first = mcp.first_step(request.tools, [*chain_items(loaded.history), *current], current)
        except ValueError as problem:
            error = InvalidRequest(str(problem), param="input")
            return failed_events(event, error, http_error=error.http_error())
        hosted = {**hosted, **first.hosted}
        chat = builtin_tools.with_functions(chat, mcp.chat_functions(first.hosted))
    call = ChatCallRequested(
        event_id=derived_id("evt", event.response_id, "call"),
        response_id=event.response_id,
        tenant=event.tenant,
        model=request.model,
        chat=chat,
        response=response,
        stream=request.stream,
        background=request.background,
        sequence_start=sequence.first_of_run(background=request.background),
        affinity=event.affinity,
        key_id=event.key_id,
        vendor_fields=list(request.extra_fields()),
        encrypted_reasoning=reasoning_blobs.INCLUDE in request.include,
        loop=ToolLoop(hosted=hosted),
    )
    # MCP servers to list, or approved calls to run, come before the first chat call.
    return [mcp.begin(call, first) if first is not None else call]


def failed_events(
    event: ResponseRequested, error: GatewayError, *, http_error: dict[str, Any] | None = None
) -> list[Event]:
    """The events of a response that failed before reaching any backend: created, in progress, failed
    (``error.failure_code``), numbered on from the api's response.queued for a background one."""
    response = requests.build_response(
        event.request, response_id=event.response_id, created_at=event.created_at
    )
    first = sequence.first_of_run(background=event.request.background)
    state, opening = stream.start(response, sequence_start=first)
    ending = stream.fail(state, code=error.failure_code, message=error.message)
    ids = {"response_id": event.response_id, "tenant": event.tenant}
    return [
        *(ResponseStreamed.of(p, **ids) for p in opening),
        *(ResponseStreamed.of(p, **ids, http_error=http_error, key_id=event.key_id) for p in ending),
    ]

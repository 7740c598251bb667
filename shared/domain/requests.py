"""A Responses request → the Response object it starts as, and the Chat Completions body that answers it."""

from typing import Any

from pydantic import BaseModel

from shared.domain import history as chain
from shared.domain import items, tools
from shared.errors import InvalidRequest
from shared.request_model import (
    FormatJsonObject,
    FormatJsonSchema,
    ItemReference,
    ResponseCreateRequest,
    TextConfig,
)

_LOGPROBS_INCLUDE = "message.output_text.logprobs"


def build_response(
    request: ResponseCreateRequest, *, response_id: str, created_at: int, status: str = "in_progress"
) -> dict[str, Any]:
    """The Response object before any output, with every field OpenAI returns."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": request.background,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": request.max_tool_calls,
        "model": request.model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls,
        "previous_response_id": request.previous_response_id,
        "prompt_cache_key": request.prompt_cache_key,
        "reasoning": {"effort": None, "summary": None, **_dumped(request.reasoning)},
        "safety_identifier": request.safety_identifier,
        # The tier asked for until the backend reports the one that served it (shared/domain/stream.py).
        "service_tier": request.service_tier if request.service_tier not in (None, "auto") else "default",
        "store": request.store,
        # OpenAI reports the sampling values in effect, its defaults included.
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "presence_penalty": request.presence_penalty or 0.0,
        "frequency_penalty": request.frequency_penalty or 0.0,
        "top_logprobs": request.top_logprobs or 0,
        "text": _echo_text(request.text),
        "tool_choice": tools.echo_tool_choice(request.tool_choice),
        "tools": tools.echo_tools(request.tools),
        "truncation": request.truncation,
        "usage": None,
        "user": request.user,
        "metadata": request.metadata or {},
        # The store appends a finished turn to the conversation this names (shared/domain/conversations.py).
        **({"conversation": {"id": conversation}} if (conversation := request.conversation_id()) else {}),
    }


def _echo_text(text: TextConfig | None) -> dict[str, Any]:
    fmt = _dumped(text.format if text else None) or {"type": "text"}
    if fmt["type"] == "json_schema":
        fmt = {"description": None, **fmt, "strict": bool(fmt.get("strict"))}
    return {**_dumped(text), "format": fmt, "verbosity": (text.verbosity if text else None) or "medium"}


def _dumped(model: BaseModel | None) -> dict[str, Any]:
    """A part of the request as the client sent it, without the fields it left out."""
    return model.model_dump(mode="json", exclude_none=True) if model is not None else {}


def referenced_item_ids(request: ResponseCreateRequest) -> list[str]:
    """Ids named by ``item_reference`` input items, for the handler to load from the store."""
    return [item.id for item in request.input_items() if isinstance(item, ItemReference)]


def build_chat_request(
    request: ResponseCreateRequest,
    history: list[dict[str, Any]] | chain.Folded,
    *,
    references: dict[str, dict[str, Any]] | None = None,
    replay_reasoning: bool = False,
    open_reasoning: items.OpenReasoning | None = None,
) -> dict[str, Any]:
    """The Chat Completions body, without ``model`` and streaming options, and untruncated: the worker
    adds those per deployment (``routing.body_for``), since only it knows which one serves. Keys whose
    value would be null are left out: some backends reject nulls. ``history``: the chain's stored
    turns, or those turns folded already (``history.fold_turns``). ``open_reasoning`` opens reasoning
    items' ``encrypted_content`` (a stateless client's reasoning)."""
    messages = _messages(request, history, references or {}, replay_reasoning, open_reasoning)
    body: dict[str, Any] = {
        "messages": messages,
        "temperature": request.temperature,
        "top_p": request.top_p,
        # The worker renames this to max_completion_tokens where the deployment wants that.
        "max_tokens": request.max_output_tokens,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "user": request.user,
        "safety_identifier": request.safety_identifier,
        "prompt_cache_key": request.prompt_cache_key,
        "response_format": _response_format(request.text),
        "reasoning_effort": request.reasoning.effort if request.reasoning else None,
        # The worker leaves it out for a deployment configured with forward_service_tier: false.
        "service_tier": request.service_tier,
        **_tool_options(request),
        **_logprob_options(request),
    }
    # Vendor fields from extra_body go through untouched and win: the client asked for them by name.
    body.update(request.extra_fields())
    return {key: value for key, value in body.items() if value is not None}


def _messages(
    request: ResponseCreateRequest,
    history: list[dict[str, Any]] | chain.Folded,
    references: dict[str, dict[str, Any]],
    replay_reasoning: bool,
    open_reasoning: items.OpenReasoning | None,
) -> list[items.Message]:
    system = [{"role": "system", "content": request.instructions}] if request.instructions else []
    current = [item.model_dump(mode="json", exclude_none=True) for item in request.input_items()]
    if not isinstance(history, chain.Folded):
        history = chain.fold_turns(history, replay_reasoning=replay_reasoning)
    # A long chain's index is not copied where the request references nothing from outside it.
    known = {**history.index, **references} if references else history.index
    messages = [
        *system,
        *history.messages(),
        *items.to_messages(
            current, references=known, replay_reasoning=replay_reasoning, open_reasoning=open_reasoning
        ),
    ]
    if len(messages) == len(system):
        raise InvalidRequest("The request has no input and no previous response to continue.", param="input")
    return messages


def _response_format(text: TextConfig | None) -> dict[str, Any] | None:
    fmt = text.format if text else None
    if isinstance(fmt, FormatJsonObject):
        return {"type": "json_object"}
    if isinstance(fmt, FormatJsonSchema):
        schema = {
            "name": fmt.name,
            "description": fmt.description,
            "schema": fmt.schema_,
            "strict": fmt.strict,
        }
        return {"type": "json_schema", "json_schema": {k: v for k, v in schema.items() if v is not None}}
    return None  # plain text is every backend's default


def _tool_options(request: ResponseCreateRequest) -> dict[str, Any]:
    # The api checked a create request already; input_tokens and compact come straight here.
    tools.check_tool_choice(request.tool_choice, request.tools)
    choice = tools.chat_tool_choice(request.tool_choice)
    functions = tools.chat_tools(request.tools, request.tool_choice)
    if not functions:
        # Backends reject tool_choice and parallel_tool_calls without tools; with no function tool
        # the model has nothing to call anyway.
        return {}
    return {
        "tools": functions,
        "tool_choice": choice,
        "parallel_tool_calls": request.parallel_tool_calls,
    }


def _logprob_options(request: ResponseCreateRequest) -> dict[str, Any]:
    if _LOGPROBS_INCLUDE not in request.include and not request.top_logprobs:
        return {}
    return {"logprobs": True, "top_logprobs": request.top_logprobs}

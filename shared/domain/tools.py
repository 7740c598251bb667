"""Responses tools and tool choice ⇄ their Chat Completions form.

Only function tools reach a chat backend. Hosted tools (web search, file search, MCP, code interpreter,
computer use, custom, image generation, shells, ...) need OpenAI's own runtime: they are dropped from the
chat request but still echoed in the Response, as OpenAI echoes every tool it was given. A
``tool_choice`` that forces a hosted tool is refused, since nothing here could honour it.

A ``namespace`` tool's functions are offered to the backend under ``<namespace>__<name>`` (shortened
with a digest past the 64 characters a function name may have), and the model's calls of them come
back as OpenAI reports them: ``name`` and ``namespace`` (``namespaced_functions``).
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from shared.errors import InvalidRequest
from shared.request_model import (
    FunctionTool,
    McpTool,
    NamespaceTool,
    Tool,
    ToolChoice,
    ToolChoiceAllowed,
    ToolChoiceFunction,
)

# Chat Completions function names are at most 64 characters (OpenAI's limit; others follow it).
_MAX_FUNCTION_NAME = 64
_NAMESPACE_SEPARATOR = "__"
_DIGEST_CHARS = 8


def echo_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    """The Response's ``tools``: function tools with every field OpenAI fills in, MCP tools without the
    client's secrets, others as sent."""
    return [_echo(tool) for tool in tools]


def _echo(tool: Tool) -> dict[str, Any]:
    if isinstance(tool, FunctionTool):
        return _echo_function(tool)
    return tool.public() if isinstance(tool, McpTool) else _dumped(tool)


def _echo_function(tool: FunctionTool) -> dict[str, Any]:
    return {
        **_dumped(tool),
        "description": tool.description,
        "parameters": tool.parameters,
        # Responses function tools are strict unless the client says otherwise.
        "strict": True if tool.strict is None else tool.strict,
    }


def echo_tool_choice(tool_choice: ToolChoice) -> str | dict[str, Any]:
    return tool_choice if isinstance(tool_choice, str) else _dumped(tool_choice)


def check_tool_choice(tool_choice: ToolChoice, tools: list[Tool]) -> None:
    """Refuse a choice no chat backend can honour: a hosted tool, or a function that is not offered."""
    if isinstance(tool_choice, str | ToolChoiceAllowed):
        return
    if not isinstance(tool_choice, ToolChoiceFunction):
        raise InvalidRequest(
            f"tool_choice of type {tool_choice.type!r} names a hosted tool, which this gateway cannot run.",
            param="tool_choice",
        )
    if tool_choice.name not in {tool.name for tool in tools if isinstance(tool, FunctionTool)}:
        raise InvalidRequest(
            f"tool_choice names the function {tool_choice.name!r}, which is not in 'tools'.",
            param="tool_choice",
        )


def chat_tools(tools: list[Tool], tool_choice: ToolChoice) -> list[dict[str, Any]]:
    """The function tools a chat backend can call (those inside namespaces too), narrowed to the
    ``allowed_tools`` choice if any."""
    allowed = _allowed_names(tool_choice)
    offered: list[dict[str, Any]] = []
    for tool in tools:
        if isinstance(tool, FunctionTool) and (allowed is None or tool.name in allowed):
            offered.append(_chat_function(tool, tool.name))
        elif isinstance(tool, NamespaceTool):
            for member in tool.tools:
                name = namespaced_name(tool.name, member.name)
                if isinstance(member, FunctionTool) and (allowed is None or allowed & {name, member.name}):
                    offered.append(_chat_function(member, name, tool.description))
    return offered


def namespaced_name(namespace: str, name: str) -> str:
    """The chat function name of ``name`` in ``namespace``: ``<namespace>__<name>``, or when that is too
    long its head and a digest of the whole, so two long names stay apart."""
    joined = f"{namespace}{_NAMESPACE_SEPARATOR}{name}"
    if len(joined) <= _MAX_FUNCTION_NAME:
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:_DIGEST_CHARS]
    return f"{joined[: _MAX_FUNCTION_NAME - _DIGEST_CHARS - 1]}_{digest}"


def namespaced_functions(tools: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Chat function name → (namespace, name) for the functions inside the namespace tools of a
    Response's echoed ``tools``: how a call the model made is reported back. A plain function of the
    same name is the model's to call as itself, so it is left out."""
    tools = list(tools)
    plain = {tool.get("name") for tool in tools if tool.get("type") == "function"}
    calls = {
        namespaced_name(tool["name"], member["name"]): (tool["name"], member["name"])
        for tool in tools
        if tool.get("type") == "namespace"
        for member in tool.get("tools") or []
        if member.get("type") == "function"
    }
    return {name: origin for name, origin in calls.items() if name not in plain}


def _chat_function(tool: FunctionTool, name: str, context: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    # strict only when the client set it: strict=true makes OpenAI-style backends reject any schema
    # that is not strict-compatible, which a client that never asked for it would not expect.
    for key in ("description", "parameters", "strict"):
        if (value := getattr(tool, key)) is not None:
            function[key] = value
    if context:
        # The namespace's description says what its functions are for; only the name would be lost.
        function["description"] = f"{context}\n\n{tool.description or ''}".strip()
    return {"type": "function", "function": function}


def _allowed_names(tool_choice: ToolChoice) -> set[str] | None:
    if isinstance(tool_choice, ToolChoiceAllowed):
        return {t.get("name") for t in tool_choice.tools if t.get("type") == "function"}
    return None


def chat_tool_choice(tool_choice: ToolChoice) -> str | dict[str, Any]:
    """``tool_choice`` for the chat body, once ``check_tool_choice`` passed. ``allowed_tools`` becomes
    its mode, the narrowing having been done on the tool list, which every backend understands."""
    if isinstance(tool_choice, ToolChoiceFunction):
        return {"type": "function", "function": {"name": tool_choice.name}}
    if isinstance(tool_choice, ToolChoiceAllowed):
        return tool_choice.mode
    return tool_choice


def _dumped(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)

"""Responses tools and tool choice ⇄ their Chat Completions form.

Only function tools reach a chat backend. Hosted tools (web search, file search, MCP, code interpreter,
computer use, custom, image generation, shells, ...) need OpenAI's own runtime: they are dropped from the
chat request but still echoed in the Response, as OpenAI echoes every tool it was given. A
``tool_choice`` that forces a hosted tool is refused, since nothing here could honour it.
"""

from typing import Any

from shared.errors import InvalidRequest
from shared.request_model import FunctionTool, Tool, ToolChoice, ToolChoiceAllowed, ToolChoiceFunction


def echo_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    """The Response's ``tools``: function tools with every field OpenAI fills in, others as sent."""
    return [_echo_function(tool) if isinstance(tool, FunctionTool) else _dumped(tool) for tool in tools]


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
    """The function tools a chat backend can call, narrowed to the ``allowed_tools`` choice if any."""
    allowed = _allowed_names(tool_choice)
    return [
        _chat_function(tool)
        for tool in tools
        if isinstance(tool, FunctionTool) and (allowed is None or tool.name in allowed)
    ]


def _chat_function(tool: FunctionTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    # strict only when the client set it: strict=true makes OpenAI-style backends reject any schema
    # that is not strict-compatible, which a client that never asked for it would not expect.
    for key in ("description", "parameters", "strict"):
        if (value := getattr(tool, key)) is not None:
            function[key] = value
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

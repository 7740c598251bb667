"""Responses tools and tool choice ⇄ their Chat Completions form.

Only function tools reach a chat backend. Hosted tools (web search, file search, MCP, code interpreter,
computer use, custom, image generation, shells, ...) need OpenAI's own runtime: they are dropped from the
chat request but still echoed in the Response, as OpenAI echoes every tool it was given.
"""

from typing import Any

from shared.errors import InvalidRequest

ToolChoice = str | dict[str, Any]


def echo_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Response's ``tools``: function tools with every field OpenAI fills in, others as sent."""
    return [_echo_function(tool) if tool.get("type") == "function" else dict(tool) for tool in tools]


def _echo_function(tool: dict[str, Any]) -> dict[str, Any]:
    # Responses function tools are strict unless the client says otherwise.
    return {"description": None, "parameters": None, **tool, "strict": tool.get("strict", True)}


def chat_tools(tools: list[dict[str, Any]], tool_choice: ToolChoice) -> list[dict[str, Any]]:
    """The function tools a chat backend can call, narrowed to the ``allowed_tools`` choice if any."""
    allowed = _allowed_names(tool_choice)
    return [
        _chat_function(tool)
        for tool in tools
        if tool.get("type") == "function" and (allowed is None or tool["name"] in allowed)
    ]


def _chat_function(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    for key in ("description", "parameters", "strict"):
        # strict only when the client set it: strict=true makes OpenAI-style backends reject any schema
        # that is not strict-compatible, which a client that never asked for it would not expect.
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _allowed_names(tool_choice: ToolChoice) -> set[str] | None:
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "allowed_tools":
        return {t["name"] for t in tool_choice.get("tools", []) if t.get("type") == "function"}
    return None


def chat_tool_choice(tool_choice: ToolChoice) -> str | dict[str, Any]:
    """``tool_choice`` for the chat body. ``allowed_tools`` becomes its mode, the narrowing having been
    done on the tool list, which every backend understands."""
    if isinstance(tool_choice, str):
        return tool_choice
    kind = tool_choice.get("type")
    if kind == "function":
        return {"type": "function", "function": {"name": tool_choice["name"]}}
    if kind == "allowed_tools":
        return str(tool_choice.get("mode", "auto"))
    raise InvalidRequest(
        f"tool_choice of type {kind!r} names a hosted tool, which this gateway cannot run",
        param="tool_choice",
    )

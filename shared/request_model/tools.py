"""The request's tools and tool choice. Chat Completions' function tools and function ``tool_choice``
(nested under ``function``) are accepted too, and become the Responses form."""

from typing import Any, Literal

from pydantic import Field, model_validator

from shared.request_model.base import Open, loose, tagged, type_of
from shared.storable import MAX_COUNT

# Tools -----------------------------------------------------------------------------------------------


class _Function(Open):
    """A function named by ``name``. Chat Completions nests its fields under ``function``; that form
    is accepted too, and becomes this one."""

    type: Literal["function"]
    name: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _unnest(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("function"), dict):
            rest = {key: value for key, value in data.items() if key != "function"}
            return {**rest, **data["function"]}
        return data


class FunctionTool(_Function):
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FileSearchTool(Open):
    type: Literal["file_search"]
    vector_store_ids: list[str]


class ComputerUsePreviewTool(Open):
    type: Literal["computer_use_preview"]
    environment: str
    display_width: int = Field(ge=0, le=MAX_COUNT)
    display_height: int = Field(ge=0, le=MAX_COUNT)


class McpToolFilter(Open):
    """Which of an MCP server's tools a rule applies to: those named, those (not) read-only by the
    server's ``readOnlyHint``; a filter naming neither matches every tool."""

    tool_names: list[str] | None = None
    read_only: bool | None = None


class McpApprovalFilter(Open):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class McpTool(Open):
    """A remote MCP server the gateway runs tools of (``shared/domain/mcp.py``). Whether its
    ``server_url`` may be reached is the api's check (``shared/mcp_guard.py``), which needs the config."""

    type: Literal["mcp"]
    server_label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    server_url: str | None = None
    server_description: str | None = None
    # Sent to the server; never echoed, logged in the clear, or stored (``shared/domain/mcp.py``).
    headers: dict[str, str] | None = None
    authorization: str | None = None
    allowed_tools: list[str] | McpToolFilter | None = None
    require_approval: Literal["always", "never"] | McpApprovalFilter | None = None

    def public(self) -> dict[str, Any]:
        """The tool as the Response echoes it and events carry it: without the client's secrets."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"headers", "authorization"})


class CodeInterpreterTool(Open):
    type: Literal["code_interpreter"]
    container: str | dict[str, Any]


class CustomTool(Open):
    type: Literal["custom"]
    name: str = Field(min_length=1)


class NamespaceTool(Open):
    """Function and custom tools grouped under one name (Codex's sub-agent tools). A chat backend
    knows no namespaces: its functions are offered under a joined name (``shared/domain/tools.py``)."""

    type: Literal["namespace"]
    name: str = Field(min_length=1)
    description: str
    tools: list[tagged({"function": FunctionTool, "custom": CustomTool})] = Field(min_length=1)


# Hosted tools the schema requires nothing more of than their type.
_BARE_TOOLS = (
    "computer",
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "image_generation",
    "local_shell",
    "shell",
    "tool_search",
    "apply_patch",
    "programmatic_tool_calling",
)

Tool = tagged(
    {
        "function": FunctionTool,
        "file_search": FileSearchTool,
        "computer_use_preview": ComputerUsePreviewTool,
        "mcp": McpTool,
        "code_interpreter": CodeInterpreterTool,
        "custom": CustomTool,
        "namespace": NamespaceTool,
        **{kind: loose(kind) for kind in _BARE_TOOLS},
    }
)


# Tool choice -----------------------------------------------------------------------------------------

ToolChoiceMode = Literal["none", "auto", "required"]


class ToolChoiceAllowed(Open):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ToolChoiceFunction(_Function):
    pass


class ToolChoiceMcp(Open):
    type: Literal["mcp"]
    server_label: str
    name: str | None = None


class ToolChoiceCustom(Open):
    type: Literal["custom"]
    name: str = Field(min_length=1)


# Choices that force one of OpenAI's hosted tools, which only its own runtime can run.
_HOSTED_CHOICES = (
    "file_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "computer",
    "computer_use_preview",
    "computer_use",
    "image_generation",
    "code_interpreter",
    "programmatic_tool_calling",
    "apply_patch",
    "shell",
)


def _choice_tag(choice: Any) -> Any:
    return "mode" if isinstance(choice, str) else type_of(choice)


ToolChoice = tagged(
    {
        "mode": ToolChoiceMode,
        "allowed_tools": ToolChoiceAllowed,
        "function": ToolChoiceFunction,
        "mcp": ToolChoiceMcp,
        "custom": ToolChoiceCustom,
        **{kind: loose(kind) for kind in _HOSTED_CHOICES},
    },
    tag=_choice_tag,
)

"""The request's input items and their content parts (OpenAI's ``InputItem``), and the items of hosted
tools a client hands back."""

from typing import Any, Literal

from pydantic import ValidationInfo, field_validator

from shared.request_model.base import Open, loose, tagged, type_of

# Content parts ---------------------------------------------------------------------------------------


class InputText(Open):
    type: Literal["input_text"]
    text: str


class InputImage(Open):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto", "original"] = "auto"


class InputFile(Open):
    type: Literal["input_file"]
    file_data: str | None = None
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


class OutputText(Open):
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]] = []


class Refusal(Open):
    type: Literal["refusal"]
    refusal: str


ContentPart = tagged(
    {
        "input_text": InputText,
        "input_image": InputImage,
        "input_file": InputFile,
        "output_text": OutputText,
        "refusal": Refusal,
    }
)
ItemStatus = Literal["in_progress", "completed", "incomplete"]


# Input items -----------------------------------------------------------------------------------------


class MessageItem(Open):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[ContentPart]
    id: str | None = None
    status: ItemStatus | None = None

    @field_validator("content")
    @classmethod
    def _media_only_from_the_user(cls, content: Any, info: ValidationInfo) -> Any:
        # Chat Completions' system and assistant messages hold text only.
        role = info.data.get("role", "user")
        parts = [] if role == "user" or isinstance(content, str) else content
        media = [p.type for p in parts if isinstance(p, InputImage | InputFile)]
        if media:
            raise ValueError(f"an {media[0]} part is only allowed in a user message, not a {role} one")
        return content


class FunctionCallItem(Open):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: ItemStatus | None = None


class FunctionCallOutputItem(Open):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]
    id: str | None = None
    status: ItemStatus | None = None


class SummaryText(Open):
    type: Literal["summary_text"]
    text: str


class ReasoningText(Open):
    type: Literal["reasoning_text"]
    text: str


class ReasoningItem(Open):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[SummaryText] = []
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None
    status: ItemStatus | None = None


class ItemReference(Open):
    type: Literal["item_reference"]
    id: str


class CompactionItem(Open):
    type: Literal["compaction"]
    encrypted_content: str
    id: str | None = None


# Items of MCP tools, which the gateway runs (shared/domain/mcp.py): a client hands them back (a stateless
# client, or one answering an approval request), and the model reads them, so they are typed.


class McpListedTool(Open):
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    annotations: dict[str, Any] | None = None


class McpListToolsItem(Open):
    type: Literal["mcp_list_tools"]
    id: str
    server_label: str
    tools: list[McpListedTool]
    error: str | None = None


class McpApprovalRequestItem(Open):
    type: Literal["mcp_approval_request"]
    id: str
    server_label: str
    name: str
    arguments: str


class McpApprovalResponseItem(Open):
    # OpenAI's schema also lists `request_id` as required, but neither its SDK nor the Agents SDK sends it.
    type: Literal["mcp_approval_response"]
    approval_request_id: str
    approve: bool
    id: str | None = None
    reason: str | None = None


class McpCallItem(Open):
    type: Literal["mcp_call"]
    id: str
    server_label: str
    name: str
    arguments: str
    output: str | None = None
    # OpenAI's MCPToolCallError object; an older form was its message.
    error: str | dict[str, Any] | None = None
    status: Literal["in_progress", "completed", "incomplete", "calling", "failed"] | None = None
    approval_request_id: str | None = None


# Items of OpenAI's hosted tools, with the fields its schema requires. No Chat Completions backend can
# act on them: they are kept in the stored input, as clients replay them, but not forwarded.
_HOSTED_ITEMS = {
    kind: loose(kind, *required)
    for kind, required in {
        "file_search_call": ("id", "status", "queries"),
        "computer_call": ("id", "call_id", "pending_safety_checks", "status"),
        "computer_call_output": ("call_id", "output"),
        "web_search_call": ("id", "status", "action"),
        "tool_search_call": ("arguments",),
        "tool_search_output": ("tools",),
        "additional_tools": ("role", "tools"),
        "image_generation_call": ("id", "status", "result"),
        "code_interpreter_call": ("id", "status", "container_id", "code", "outputs"),
        "local_shell_call": ("id", "call_id", "action", "status"),
        "local_shell_call_output": ("id", "call_id", "output"),
        "shell_call": ("call_id", "action"),
        "shell_call_output": ("call_id", "output"),
        "apply_patch_call": ("call_id", "status", "operation"),
        "apply_patch_call_output": ("call_id", "status"),
        "custom_tool_call": ("call_id", "name", "input"),
        "custom_tool_call_output": ("call_id", "output"),
        "compaction_trigger": (),
        "program": ("id", "call_id", "code", "fingerprint"),
        "program_output": ("id", "call_id", "result", "status"),
    }.items()
}


def _item_tag(item: Any) -> Any:
    # A message may leave its type out (OpenAI's EasyInputMessage).
    kind = type_of(item)
    return "message" if kind is None and isinstance(item, dict | MessageItem) else kind


InputItem = tagged(
    {
        "message": MessageItem,
        "function_call": FunctionCallItem,
        "function_call_output": FunctionCallOutputItem,
        "reasoning": ReasoningItem,
        "item_reference": ItemReference,
        "compaction": CompactionItem,
        "mcp_list_tools": McpListToolsItem,
        "mcp_approval_request": McpApprovalRequestItem,
        "mcp_approval_response": McpApprovalResponseItem,
        "mcp_call": McpCallItem,
        **_HOSTED_ITEMS,
    },
    tag=_item_tag,
)

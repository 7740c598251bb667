"""The body of ``POST /v1/responses``, validated once at the API and carried in ``ResponseRequested``.

Shapes follow OpenAI's ``CreateResponse`` schema (tests/integration/openai-responses.openapi.yaml):
every tool, tool choice, input item, content part and text format is a model with its required
fields, so a request the api accepts is one the translator can map. Objects stay open
(``extra="allow"``): OpenAI adds fields often, and what the gateway does not read it keeps and echoes.

Unknown top-level fields are kept, not rejected: the ``openai`` SDK merges ``extra_body`` into the
body, and those vendor fields (``chat_template_kwargs``, BytePlus ``thinking``/``caching``, ...) must
reach the backend untouched. Everything, vendor fields included, must be storable
(``shared/storable.py``): nothing the api accepts can later fail to encode as BSON.

Clients ported from Chat Completions send function tools and a function ``tool_choice`` nested under
``function``; both are accepted and become the Responses form, which is what the Response echoes.
"""

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared import storable
from shared.storable import MAX_COUNT


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


def _type_of(value: Any) -> Any:
    """What picks a union member: the value's ``type`` (None when it is not an object)."""
    if isinstance(value, dict):
        return value.get("type")
    return getattr(value, "type", None)


def _tagged(members: dict[str, Any], tag: Any = _type_of) -> Any:
    """A union whose member is chosen by ``tag(value)``: a bad value gets one error, under its own
    parameter path, rather than one per member; an unknown ``type`` is named with the known ones."""
    choices = tuple(Annotated[model, Tag(name)] for name, model in members.items())
    return Annotated[Union[choices], Discriminator(tag)]  # noqa: UP007 (the members are known at run time)


def _loose(kind: str, *required: str) -> type[_Open]:
    """An object OpenAI defines but the gateway only carries (hosted tools and their items): its
    ``type`` and required fields are checked, their contents are kept as sent."""
    fields: dict[str, Any] = {name: (Any, ...) for name in required}
    name = "".join(part.title() for part in kind.split("_"))
    return create_model(name, __base__=_Open, type=(Literal[kind], ...), **fields)


# Content parts ---------------------------------------------------------------------------------------


class InputText(_Open):
    type: Literal["input_text"]
    text: str


class InputImage(_Open):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["low", "high", "auto", "original"] = "auto"


class InputFile(_Open):
    type: Literal["input_file"]
    file_data: str | None = None
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


class OutputText(_Open):
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]] = []


class Refusal(_Open):
    type: Literal["refusal"]
    refusal: str


ContentPart = _tagged(
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


class MessageItem(_Open):
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


class FunctionCallItem(_Open):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: ItemStatus | None = None


class FunctionCallOutputItem(_Open):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]
    id: str | None = None
    status: ItemStatus | None = None


class SummaryText(_Open):
    type: Literal["summary_text"]
    text: str


class ReasoningText(_Open):
    type: Literal["reasoning_text"]
    text: str


class ReasoningItem(_Open):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[SummaryText] = []
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None
    status: ItemStatus | None = None


class ItemReference(_Open):
    type: Literal["item_reference"]
    id: str


class CompactionItem(_Open):
    type: Literal["compaction"]
    encrypted_content: str
    id: str | None = None


# Items of MCP tools, which the gateway runs (shared/domain/mcp.py): a client hands them back (a stateless
# client, or one answering an approval request), and the model reads them, so they are typed.


class McpListedTool(_Open):
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    annotations: dict[str, Any] | None = None


class McpListToolsItem(_Open):
    type: Literal["mcp_list_tools"]
    id: str
    server_label: str
    tools: list[McpListedTool]
    error: str | None = None


class McpApprovalRequestItem(_Open):
    type: Literal["mcp_approval_request"]
    id: str
    server_label: str
    name: str
    arguments: str


class McpApprovalResponseItem(_Open):
    # OpenAI's schema also lists `request_id` as required, but neither its SDK nor the Agents SDK sends it.
    type: Literal["mcp_approval_response"]
    approval_request_id: str
    approve: bool
    id: str | None = None
    reason: str | None = None


class McpCallItem(_Open):
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
    kind: _loose(kind, *required)
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
    kind = _type_of(item)
    return "message" if kind is None and isinstance(item, dict | MessageItem) else kind


InputItem = _tagged(
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


# Tools -----------------------------------------------------------------------------------------------


class _Function(_Open):
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


class FileSearchTool(_Open):
    type: Literal["file_search"]
    vector_store_ids: list[str]


class ComputerUsePreviewTool(_Open):
    type: Literal["computer_use_preview"]
    environment: str
    display_width: int = Field(ge=0, le=MAX_COUNT)
    display_height: int = Field(ge=0, le=MAX_COUNT)


class McpToolFilter(_Open):
    """Which of an MCP server's tools a rule applies to: those named, those (not) read-only by the
    server's ``readOnlyHint``; a filter naming neither matches every tool."""

    tool_names: list[str] | None = None
    read_only: bool | None = None


class McpApprovalFilter(_Open):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class McpTool(_Open):
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


class CodeInterpreterTool(_Open):
    type: Literal["code_interpreter"]
    container: str | dict[str, Any]


class CustomTool(_Open):
    type: Literal["custom"]
    name: str = Field(min_length=1)


class NamespaceTool(_Open):
    """Function and custom tools grouped under one name (Codex's sub-agent tools). A chat backend
    knows no namespaces: its functions are offered under a joined name (``shared/domain/tools.py``)."""

    type: Literal["namespace"]
    name: str = Field(min_length=1)
    description: str
    tools: list[_tagged({"function": FunctionTool, "custom": CustomTool})] = Field(min_length=1)


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

Tool = _tagged(
    {
        "function": FunctionTool,
        "file_search": FileSearchTool,
        "computer_use_preview": ComputerUsePreviewTool,
        "mcp": McpTool,
        "code_interpreter": CodeInterpreterTool,
        "custom": CustomTool,
        "namespace": NamespaceTool,
        **{kind: _loose(kind) for kind in _BARE_TOOLS},
    }
)


# Tool choice -----------------------------------------------------------------------------------------

ToolChoiceMode = Literal["none", "auto", "required"]


class ToolChoiceAllowed(_Open):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class ToolChoiceFunction(_Function):
    pass


class ToolChoiceMcp(_Open):
    type: Literal["mcp"]
    server_label: str
    name: str | None = None


class ToolChoiceCustom(_Open):
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
    return "mode" if isinstance(choice, str) else _type_of(choice)


ToolChoice = _tagged(
    {
        "mode": ToolChoiceMode,
        "allowed_tools": ToolChoiceAllowed,
        "function": ToolChoiceFunction,
        "mcp": ToolChoiceMcp,
        "custom": ToolChoiceCustom,
        **{kind: _loose(kind) for kind in _HOSTED_CHOICES},
    },
    tag=_choice_tag,
)


# Text, reasoning, options ----------------------------------------------------------------------------


class FormatText(_Open):
    type: Literal["text"]


class FormatJsonObject(_Open):
    type: Literal["json_object"]


class FormatJsonSchema(_Open):
    # `schema` would shadow a BaseModel attribute; the alias keeps the wire name both ways.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    type: Literal["json_schema"]
    name: str = Field(min_length=1)
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = _tagged({"text": FormatText, "json_schema": FormatJsonSchema, "json_object": FormatJsonObject})


class TextConfig(_Open):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


Summary = Literal["auto", "concise", "detailed"]


class Reasoning(_Open):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Summary | None = None
    generate_summary: Summary | None = None  # deprecated name of `summary`


class StreamOptions(_Open):
    include_obfuscation: bool | None = None


Include = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]
ServiceTier = Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"]
MetadataKey = Annotated[str, StringConstraints(max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]


# The request -----------------------------------------------------------------------------------------


class ConversationRef(_Open):
    id: str = Field(min_length=1)


# OpenAI parameters for features this gateway does not run: refused with a 400 that says so, never
# ignored (the client would believe it ran) nor forwarded (a strict backend would refuse the call).
UNSUPPORTED_FIELDS = {
    "prompt": "Stored prompt templates are not supported by this gateway; send 'instructions' and 'input'.",
    "context_management": "Server-side context management is not supported by this gateway; use "
    "'truncation' or POST /v1/responses/compact.",
    "moderation": "Moderation is not run by this gateway.",
}


class ResponseCreateRequest(_Open):
    @model_validator(mode="before")
    @classmethod
    def _storable_and_null_means_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key, reason in UNSUPPORTED_FIELDS.items():
            if data.get(key) is not None:
                raise PydanticCustomError("unsupported", "{reason}", {"param": key, "reason": reason})
        try:
            for key, value in data.items():
                vendor = key not in cls.model_fields
                storable.check_key(key, "", vendor=vendor)
                storable.check(value, key, vendor=vendor)
        except storable.Unstorable as problem:
            raise PydanticCustomError(
                "unstorable", "{reason}", {"param": problem.param, "reason": problem.reason}
            ) from None
        # OpenAI's schema allows ``null`` for most fields, meaning "the default".
        return {k: v for k, v in data.items() if v is not None or k not in cls.model_fields}

    model: str = Field(min_length=1)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    # A conversation's id, or {"id": ...}: its items are the turn's history, and the turn is appended.
    conversation: Annotated[str, StringConstraints(min_length=1)] | ConversationRef | None = None
    store: bool = True
    stream: bool = False
    background: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_output_tokens: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    max_tool_calls: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    metadata: dict[MetadataKey, MetadataValue] | None = Field(default=None, max_length=16)
    user: str | None = None
    tools: list[Tool] = []
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = True
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    include: list[Include] = []
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    service_tier: ServiceTier | None = None
    stream_options: StreamOptions | None = None
    # Accepted and ignored (README, Fields): hints for OpenAI's own prompt cache and background queue,
    # and a client's bookkeeping (Codex sends client_metadata on every request). They change nothing a
    # model answers, and are never forwarded, since a strict backend refuses fields it does not know.
    client_metadata: dict[str, Any] | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    background_options: dict[str, Any] | None = None

    def input_items(self) -> list[InputItem]:
        """``input`` as a list of items: a bare string is one user message."""
        if self.input is None:
            return []
        if isinstance(self.input, str):
            return [MessageItem(role="user", content=self.input)]
        return list(self.input)

    def conversation_id(self) -> str | None:
        """The id ``conversation`` names, in either of its forms."""
        return self.conversation.id if isinstance(self.conversation, ConversationRef) else self.conversation

    def extra_fields(self) -> dict[str, Any]:
        """Top-level fields outside OpenAI's schema: vendor options for the backend."""
        return dict(self.model_extra or {})

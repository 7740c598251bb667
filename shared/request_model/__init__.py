"""The body of ``POST /v1/responses``, validated once at the API and carried in ``ResponseRequested``.
Its shapes: ``items.py`` (input items, content parts), ``tools.py`` (tools, tool choice), ``request.py``
(the request and its options), over ``base.py``; every public name is importable from here.

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

from shared.request_model.items import (
    CompactionItem,
    ContentPart,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputFile,
    InputImage,
    InputItem,
    InputText,
    ItemReference,
    ItemStatus,
    McpApprovalRequestItem,
    McpApprovalResponseItem,
    McpCallItem,
    McpListedTool,
    McpListToolsItem,
    MessageItem,
    OutputText,
    ReasoningItem,
    ReasoningText,
    Refusal,
    SummaryText,
)
from shared.request_model.request import (
    UNSUPPORTED_FIELDS,
    ConversationRef,
    FormatJsonObject,
    FormatJsonSchema,
    FormatText,
    Include,
    MetadataKey,
    MetadataValue,
    Reasoning,
    ResponseCreateRequest,
    ServiceTier,
    StreamOptions,
    Summary,
    TextConfig,
    TextFormat,
)
from shared.request_model.tools import (
    CodeInterpreterTool,
    ComputerUsePreviewTool,
    CustomTool,
    FileSearchTool,
    FunctionTool,
    McpApprovalFilter,
    McpTool,
    McpToolFilter,
    NamespaceTool,
    Tool,
    ToolChoice,
    ToolChoiceAllowed,
    ToolChoiceCustom,
    ToolChoiceFunction,
    ToolChoiceMcp,
    ToolChoiceMode,
)

__all__ = [
    "UNSUPPORTED_FIELDS",
    "CodeInterpreterTool",
    "CompactionItem",
    "ComputerUsePreviewTool",
    "ContentPart",
    "ConversationRef",
    "CustomTool",
    "FileSearchTool",
    "FormatJsonObject",
    "FormatJsonSchema",
    "FormatText",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionTool",
    "Include",
    "InputFile",
    "InputImage",
    "InputItem",
    "InputText",
    "ItemReference",
    "ItemStatus",
    "McpApprovalFilter",
    "McpApprovalRequestItem",
    "McpApprovalResponseItem",
    "McpCallItem",
    "McpListToolsItem",
    "McpListedTool",
    "McpTool",
    "McpToolFilter",
    "MessageItem",
    "MetadataKey",
    "MetadataValue",
    "NamespaceTool",
    "OutputText",
    "Reasoning",
    "ReasoningItem",
    "ReasoningText",
    "Refusal",
    "ResponseCreateRequest",
    "ServiceTier",
    "StreamOptions",
    "Summary",
    "SummaryText",
    "TextConfig",
    "TextFormat",
    "Tool",
    "ToolChoice",
    "ToolChoiceAllowed",
    "ToolChoiceCustom",
    "ToolChoiceFunction",
    "ToolChoiceMcp",
    "ToolChoiceMode",
]

"""The request itself (``ResponseCreateRequest``) and its options: text format, reasoning, include,
service tier, metadata, conversation."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from shared import storable
from shared.request_model.base import Open, tagged
from shared.request_model.items import InputItem, MessageItem
from shared.request_model.tools import Tool, ToolChoice
from shared.storable import MAX_COUNT

# Text, reasoning, options ----------------------------------------------------------------------------


class FormatText(Open):
    type: Literal["text"]


class FormatJsonObject(Open):
    type: Literal["json_object"]


class FormatJsonSchema(Open):
    # `schema` would shadow a BaseModel attribute; the alias keeps the wire name both ways.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    type: Literal["json_schema"]
    name: str = Field(min_length=1)
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = tagged({"text": FormatText, "json_schema": FormatJsonSchema, "json_object": FormatJsonObject})


class TextConfig(Open):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


Summary = Literal["auto", "concise", "detailed"]


class Reasoning(Open):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Summary | None = None
    generate_summary: Summary | None = None  # deprecated name of `summary`


class StreamOptions(Open):
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


class ConversationRef(Open):
    id: str = Field(min_length=1)


# OpenAI parameters for features this gateway does not run: refused with a 400 that says so, never
# ignored (the client would believe it ran) nor forwarded (a strict backend would refuse the call).
UNSUPPORTED_FIELDS = {
    "prompt": "Stored prompt templates are not supported by this gateway; send 'instructions' and 'input'.",
    "context_management": "Server-side context management is not supported by this gateway; use "
    "'truncation' or POST /v1/responses/compact.",
    "moderation": "Moderation is not run by this gateway.",
}


class ResponseCreateRequest(Open):
    @model_validator(mode="before")
    @classmethod
    def _storable_and_null_means_default(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        for key, reason in UNSUPPORTED_FIELDS.items():
            if data.get(key) is not None:
                raise PydanticCustomError("unsupported", "{reason}", {"param": key, "reason": reason})
        if not storable.checked_before(info.context):  # else read back from the log, checked at the api
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

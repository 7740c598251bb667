"""The event log's schemas: every message on the ``RESPONSES`` stream is one of these.

Events are immutable facts named in the past tense. Each carries the envelope ``event_id``
(also the ``Nats-Msg-Id``, so a re-publish is dropped by JetStream), ``response_id``, ``tenant``
(the owner: a hash, never a key), ``occurred_at`` and ``v``. A stored event is never renamed or
reshaped: a new fact is a new class.

``ResponseStreamed`` holds one OpenAI Responses stream event exactly as clients see it, so its
``type`` is OpenAI's wire name and SSE re-serialises ``payload`` untouched; ``ResponseDeltas`` holds a
run of such events that a worker logged as one message (``client_events`` gives them back one by one).
"""

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared import storable
from shared.ids import derived_id
from shared.request_model import ResponseCreateRequest


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    v: int = 1
    event_id: str
    response_id: str
    tenant: str
    occurred_at: float = Field(default_factory=time.time)


class ResponseRequested(Event):
    """A client asked for a response (api → translator, store)."""

    type: Literal["gateway.response.requested"] = "gateway.response.requested"
    request: ResponseCreateRequest
    created_at: int
    # Ancestors named by previous_response_id, oldest first, resolved by the api when it checked
    # the previous response exists: the translator loads them in one query, the store keeps them.
    chain: list[str] = []
    # The client key's id (a managed key's id, or `env:<VAR>` for a static one; never the key).
    key_id: str | None = None
    # The deployment that served the previous turn (its `served_by`): the worker prefers it.
    affinity: str | None = None


class ChatCallRequested(Event):
    """The translated request, ready for a chat backend (translator → worker). Holds no secret:
    the worker picks the deployment and its key."""

    type: Literal["gateway.chat.requested"] = "gateway.chat.requested"
    model: str
    chat: dict[str, Any]
    # The Response object as it stands before any output: what response.created shows.
    response: dict[str, Any]
    stream: bool
    background: bool = False
    # A background response's log opens with response.queued (written by the api), so the worker's
    # events continue the numbering after it.
    sequence_start: int = 0
    # Copied from ResponseRequested: the deployment id to prefer while it is healthy.
    affinity: str | None = None
    # Copied from ResponseRequested: the managed key (id, never the key) the usage is billed to.
    key_id: str | None = None
    # The names of the request's vendor fields (in ``chat``): a deployment with an ``extra_fields``
    # list is sent only those on it.
    vendor_fields: list[str] = []
    # include: ["reasoning.encrypted_content"]: reasoning items carry their text sealed for the
    # client to hand back (shared/reasoning_blobs.py).
    encrypted_reasoning: bool = False
    # Where the response's built-in tool loop stands (services/worker/toolsteps.py).
    loop: "ToolLoop" = Field(default_factory=lambda: ToolLoop())


class HostedTool(BaseModel):
    """A function the model is offered that stands for a built-in tool: the Responses tool type and
    the tool's entry as the client sent it (its filters, user location, server...)."""

    model_config = ConfigDict(frozen=True)

    type: str
    tool: dict[str, Any] = {}
    # The request's `include` values about this tool (web_search_call.action.sources).
    include: list[str] = []


class ToolLoop(BaseModel):
    """A chat call's place in its response's built-in tool loop: which step it is (0: the first; a
    later one's ``response`` holds the output of the steps before it), the functions standing for
    built-in tools the gateway runs, the built-in calls run so far (for ``max_tool_calls``), the chat
    usage and cost of the earlier steps (the terminal event adds them up), and the pages searches
    found ({url, title}), which the answer's ``url_citation`` annotations may cite."""

    model_config = ConfigDict(frozen=True)

    step: int = 0
    hosted: dict[str, HostedTool] = {}
    calls_made: int = 0
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    sources: list[dict[str, str]] = []


class HostedCall(BaseModel):
    """A call the model made to a hosted function, as its chat ``tool_calls`` entry had it."""

    model_config = ConfigDict(frozen=True)

    call_id: str
    name: str
    arguments: str = ""


class ToolCallsRequested(Event):
    """Built-in tool calls for the gateway to run before the response's next chat call (worker →
    worker, on the chat call subject: every step of the loop is a durable message, so a crash between
    two steps loses nothing). Once they ran, ``next_call`` goes out with their results appended to its
    messages, or, with ``end_after``, the response ends (the same turn called the client's functions)."""

    type: Literal["gateway.tools.requested"] = "gateway.tools.requested"
    calls: list[HostedCall]
    # The chat assistant message that made the calls, to precede their results in the next call.
    assistant: dict[str, Any] | None = None
    end_after: bool = False
    # Its `response` is the Response as the step begins, `sequence_start` the step's first number.
    next_call: ChatCallRequested


ChatCallRequested.model_rebuild()


class ResponseCancelRequested(Event):
    """The owner asked to stop a background response (api → every worker replica)."""

    type: Literal["gateway.response.cancel_requested"] = "gateway.response.cancel_requested"
    # Who asked (a key's id, never the key), for the audit trail.
    key_id: str | None = None


class ResponseDeleted(Event):
    """The owner deleted a stored response (api → store)."""

    type: Literal["gateway.response.deleted"] = "gateway.response.deleted"
    # Who deleted it (a key's id, never the key): the envelope outlives the content, for the audit.
    key_id: str | None = None


StreamEventType = Literal[
    "response.queued",
    "response.created",
    "response.in_progress",
    "response.completed",
    "response.failed",
    "response.incomplete",
    "response.cancelled",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.output_text.annotation.added",
    "response.web_search_call.in_progress",
    "response.web_search_call.searching",
    "response.web_search_call.completed",
    "response.mcp_list_tools.in_progress",
    "response.mcp_list_tools.completed",
    "response.mcp_list_tools.failed",
    "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress",
    "response.mcp_call.completed",
    "response.mcp_call.failed",
    "error",
]

TERMINAL_STATUSES = frozenset({"completed", "failed", "incomplete", "cancelled"})
TERMINAL_TYPES = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "response.cancelled"}
)


class ResponseStreamed(Event):
    """One Responses stream event (worker → api, store); ``payload`` is the client's JSON."""

    type: StreamEventType
    sequence_number: int
    payload: dict[str, Any]
    # Gateway-internal, never shown in a stream: on a response.failed caused by a client error (the
    # backend's context-length refusal), {"status": 4xx, "error": {...}}, which a non-stream request
    # answers with instead of the failed Response, as OpenAI refuses such a request up front.
    http_error: dict[str, Any] | None = None
    # Gateway-internal, on the terminal event of a response a worker ran: the id of the deployment
    # that served it (or, if none could, the last one tried) and what the call cost at its prices.
    served_by: str | None = None
    cost_usd: float | None = None
    # Gateway-internal, on the terminal event: the key the response was made with (its id), so that
    # usage is one write from this event alone.
    key_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    @classmethod
    def of(
        cls, payload: dict[str, Any], *, response_id: str, tenant: str, **internal: Any
    ) -> "ResponseStreamed":
        """Wrap a client-facing event; ``internal`` sets the gateway-only fields. Its id derives from
        the sequence number, so a redelivered chat call re-emits the same ids and JetStream's
        duplicate window drops the copies."""
        seq = payload["sequence_number"]
        return cls(
            event_id=derived_id("evt", response_id, seq),
            response_id=response_id,
            tenant=tenant,
            type=payload["type"],
            sequence_number=seq,
            payload=payload,
            **internal,
        )


class ResponseDeltas(Event):
    """Consecutive stream events of one run that the projection does not fold (a text's deltas, an
    item added or done; a foreground stream's opening states), logged as one message (worker → api):
    those a run had in hand at once, because the backend sent them faster than the worker turned to
    them. One message to append, acknowledge, store and relay where there would have been one each;
    the api shows every event of it, in order. Its id derives from its first event's number, as that
    event's own would."""

    type: Literal["gateway.response.deltas"] = "gateway.response.deltas"
    payloads: list[dict[str, Any]] = Field(min_length=2)

    @property
    def sequence_number(self) -> int:
        return self.payloads[0]["sequence_number"]

    @property
    def is_terminal(self) -> bool:
        return False  # a terminal event is always logged alone, after everything before it

    def events(self) -> list[ResponseStreamed]:
        at = self.occurred_at
        return [
            ResponseStreamed.of(p, response_id=self.response_id, tenant=self.tenant, occurred_at=at)
            for p in self.payloads
        ]

    @classmethod
    def of(cls, payloads: list[dict[str, Any]], *, response_id: str, tenant: str) -> "ResponseDeltas":
        first = payloads[0]["sequence_number"]
        return cls(
            event_id=derived_id("evt", response_id, first),
            response_id=response_id,
            tenant=tenant,
            payloads=payloads,
        )


# What a response's stream subjects (``resp.<id>.state``, ``resp.<id>.delta``) hold.
StreamMessage = ResponseStreamed | ResponseDeltas


def client_events(message: Event) -> list[ResponseStreamed]:
    """The client-facing events a message of a response's stream subjects carries, in order."""
    match message:
        case ResponseStreamed():
            return [message]
        case ResponseDeltas():
            return message.events()
    raise TypeError(f"a {type(message).__name__} where a response's stream events are logged")


# Conversations -------------------------------------------------------------------------------------
# A conversation's events name it in the envelope's ``response_id``: the log scopes subjects, data keys
# and claim checks by that id, so a conversation is sealed, deleted and erased as a response is.


class ConversationEvent(Event):
    # Who acted (a key's id, never the key), for the audit trail.
    key_id: str | None = None

    @property
    def conversation_id(self) -> str:
        return self.response_id


class ConversationCreated(ConversationEvent):
    """A client created a conversation, with its first items (ids given) and metadata (api → store)."""

    type: Literal["gateway.conversation.created"] = "gateway.conversation.created"
    created_at: int
    items: list[dict[str, Any]] = []
    metadata: dict[str, str] = {}


class ConversationUpdated(ConversationEvent):
    """The owner replaced a conversation's metadata (api → store)."""

    type: Literal["gateway.conversation.updated"] = "gateway.conversation.updated"
    metadata: dict[str, str]


class ConversationItemsAdded(ConversationEvent):
    """The owner appended items (ids given) to a conversation (api → store). A response's turn is not
    logged again: the store appends it from the response's own request and end."""

    type: Literal["gateway.conversation.items_added"] = "gateway.conversation.items_added"
    items: list[dict[str, Any]]


class ConversationItemDeleted(ConversationEvent):
    """The owner removed one item from a conversation (api → store)."""

    type: Literal["gateway.conversation.item_deleted"] = "gateway.conversation.item_deleted"
    item_id: str


class ConversationDeleted(ConversationEvent):
    """The owner deleted a conversation (api → store); its responses stay, as with OpenAI."""

    type: Literal["gateway.conversation.deleted"] = "gateway.conversation.deleted"


LoggedEvent = Annotated[
    ResponseRequested
    | ChatCallRequested
    | ToolCallsRequested
    | ResponseCancelRequested
    | ResponseDeleted
    | ResponseStreamed
    | ResponseDeltas
    | ConversationCreated
    | ConversationUpdated
    | ConversationItemsAdded
    | ConversationItemDeleted
    | ConversationDeleted,
    Field(discriminator="type"),
]

_logged_event = TypeAdapter(LoggedEvent)


def parse_event(data: bytes | str) -> Event:
    """Any message of the log, as its event class. What the api checked as it came in (a request's
    storability) is not checked again."""
    return _logged_event.validate_json(data, context=storable.CHECKED_BEFORE)


def parse_event_dict(data: dict[str, Any]) -> Event:
    """``parse_event`` for a message already decoded from JSON."""
    return _logged_event.validate_python(data, context=storable.CHECKED_BEFORE)

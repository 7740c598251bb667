"""The event log's schemas: every message on the ``RESPONSES`` stream is one of these.

Events are immutable facts named in the past tense. Each carries the envelope ``event_id``
(also the ``Nats-Msg-Id``, so a re-publish is dropped by JetStream), ``response_id``, ``tenant``
(the owner: a hash, never a key), ``occurred_at`` and ``v``. A stored event is never renamed or
reshaped: a new fact is a new class.

``ResponseStreamed`` holds one OpenAI Responses stream event exactly as clients see it, so its
``type`` is OpenAI's wire name and SSE re-serialises ``payload`` untouched.
"""

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

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


LoggedEvent = Annotated[
    ResponseRequested | ChatCallRequested | ResponseCancelRequested | ResponseDeleted | ResponseStreamed,
    Field(discriminator="type"),
]

_logged_event = TypeAdapter(LoggedEvent)


def parse_event(data: bytes | str) -> Event:
    """Any message of the log, as its event class."""
    return _logged_event.validate_json(data)


def parse_event_dict(data: dict[str, Any]) -> Event:
    """``parse_event`` for a message already decoded from JSON."""
    return _logged_event.validate_python(data)

"""What the api decides for a new response, pure: the request and the previous turn's stored document
in, the events to log and how to answer out. ``routes/responses.py`` does the I/O around it (load the
previous turn, log the events, follow the response)."""

import enum
from dataclasses import dataclass
from typing import Any

from shared.domain import sequence
from shared.domain.requests import build_response
from shared.errors import InvalidRequest
from shared.events import ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.request_model import ResponseCreateRequest

Doc = dict[str, Any]


class Answer(enum.Enum):
    STREAM = "stream"  # server-sent events as they are logged
    QUEUED = "queued"  # a background response: its queued state, once projected
    FINAL = "final"  # the finished response (or the HTTP error it ended with)


@dataclass(frozen=True)
class CreatePlan:
    # What the api logs, in order: a background response's queued state first, then the request.
    events: list[ResponseRequested | ResponseStreamed]
    answer: Answer
    # A turn of a conversation is answered once the store appended it to the conversation, so that
    # the next turn's history has it. Any other response is answered once the log holds its outcome:
    # a read the store has not caught up with reads the log (shared/readmodel/fresh.py).
    awaits_projection: bool

    @property
    def queued(self) -> dict[str, Any]:
        """The queued Response object a background create answers with."""
        return self.events[0].payload["response"]  # type: ignore[union-attr]


@dataclass(frozen=True)
class PreviousTurn:
    """What a new turn takes from the one before it: the ids of every earlier turn, oldest first, and
    the deployment that served the previous one (the new turn's affinity)."""

    chain: list[str]
    affinity: str | None


def previous_turn(previous_id: str | None, doc: Doc | None) -> PreviousTurn:
    """``doc`` is the tenant's stored document named by ``previous_response_id`` (None when none is);
    naming one that does not exist is the client's error."""
    if previous_id is None:
        return PreviousTurn(chain=[], affinity=None)
    if doc is None:
        raise InvalidRequest(
            f"Previous response with id '{previous_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return PreviousTurn(chain=[*doc.get("chain", []), previous_id], affinity=doc.get("served_by"))


def plan_create(
    body: ResponseCreateRequest,
    previous: PreviousTurn,
    *,
    response_id: str,
    tenant: str,
    created_at: int,
    key_id: str | None = None,
) -> CreatePlan:
    requested = ResponseRequested(
        event_id=derived_id("evt", response_id, "requested"),
        response_id=response_id,
        tenant=tenant,
        request=body,
        created_at=created_at,
        chain=previous.chain,
        key_id=key_id,
        affinity=previous.affinity,
    )
    answer = Answer.STREAM if body.stream else Answer.QUEUED if body.background else Answer.FINAL
    awaits = body.conversation_id() is not None
    if not body.background:
        return CreatePlan(events=[requested], answer=answer, awaits_projection=awaits)
    # Logged before the request, so that it can be read, streamed and cancelled before any worker
    # takes it: once the request is in, a worker may log its events at any moment.
    queued = build_response(body, response_id=response_id, created_at=created_at, status="queued")
    payload = {"type": "response.queued", "sequence_number": sequence.QUEUED, "response": queued}
    opening = ResponseStreamed.of(payload, response_id=response_id, tenant=tenant)
    return CreatePlan(events=[opening, requested], answer=answer, awaits_projection=awaits)

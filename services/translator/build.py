"""The translator's decision, pure: a requested response and what was loaded for it (its chain, the
items it references) in, the events to log out: the chat call, or, when the input cannot be
translated, the events of a response that failed before reaching any backend."""

from typing import Any

from shared.domain import requests, sequence, stream
from shared.errors import GatewayError, InvalidRequest
from shared.events import ChatCallRequested, Event, ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.readmodel.chains import Loaded

# What a client is told when the gateway itself failed; the cause is in the translator's log and
# the dead letter, never in the response.
SERVER_ERROR = GatewayError("The server had an error while processing your request.")


def chat_call(event: ResponseRequested, loaded: Loaded, *, replay_reasoning: bool) -> list[Event]:
    request = event.request
    try:
        chat = requests.build_chat_request(
            request, loaded.history, references=loaded.references, replay_reasoning=replay_reasoning
        )
    except InvalidRequest as error:
        # A non-stream client gets the 400 it would have had, had the api been able to see the problem.
        return failed_events(event, error, http_error=error.http_error())
    response = requests.build_response(request, response_id=event.response_id, created_at=event.created_at)
    call = ChatCallRequested(
        event_id=derived_id("evt", event.response_id, "call"),
        response_id=event.response_id,
        tenant=event.tenant,
        model=request.model,
        chat=chat,
        response=response,
        stream=request.stream,
        background=request.background,
        sequence_start=sequence.first_of_run(background=request.background),
        affinity=event.affinity,
        key_id=event.key_id,
    )
    return [call]


def failed_events(
    event: ResponseRequested, error: GatewayError, *, http_error: dict[str, Any] | None = None
) -> list[Event]:
    """The events of a response that failed before reaching any backend: created, in progress, failed
    (``error.failure_code``), numbered on from the api's response.queued for a background one."""
    response = requests.build_response(
        event.request, response_id=event.response_id, created_at=event.created_at
    )
    first = sequence.first_of_run(background=event.request.background)
    state, opening = stream.start(response, sequence_start=first)
    ending = stream.fail(state, code=error.failure_code, message=error.message)
    ids = {"response_id": event.response_id, "tenant": event.tenant}
    return [
        *(ResponseStreamed.of(p, **ids) for p in opening),
        *(ResponseStreamed.of(p, **ids, http_error=http_error, key_id=event.key_id) for p in ending),
    ]

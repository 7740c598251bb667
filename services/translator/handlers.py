"""The translator's subscription: a requested response in, the chat call for it out."""

from faststream import AckPolicy
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.store import queries
from services.translator import requests, stream
from shared import eventlog, subjects
from shared.bus import LOG
from shared.config import GatewayConfig
from shared.errors import InvalidRequest
from shared.events import ChatCallRequested, Event, ResponseRequested, ResponseStreamed
from shared.ids import derived_id


def register(
    broker: NatsBroker, *, js: JetStreamContext, db: AsyncDatabase, config: GatewayConfig, concurrency: int
) -> None:
    @broker.subscriber(
        subjects.ALL_REQUESTED,
        stream=LOG,
        durable="translator",
        queue="translator",
        max_workers=concurrency,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_requested(event: ResponseRequested) -> None:
        for out in await translate(event, db=db, config=config):
            await eventlog.append(js, out)


async def translate(event: ResponseRequested, *, db: AsyncDatabase, config: GatewayConfig) -> list[Event]:
    """The chat call for a requested response, or, when its input cannot be translated, the events of
    a response that failed before reaching any backend."""
    request = event.request
    sequence_start = 1 if request.background else 0  # a background log opens with the api's response.queued
    response = requests.build_response(request, response_id=event.response_id, created_at=event.created_at)
    history = await queries.get_chain_docs(db, tenant=event.tenant, ids=event.chain) if event.chain else []
    wanted = requests.referenced_item_ids(request)
    references = await queries.find_items(db, tenant=event.tenant, item_ids=wanted) if wanted else {}
    deployment = config.deployment(request.model)
    try:
        chat = requests.build_chat_request(
            request,
            history,
            references=references,
            replay_reasoning=config.replay_reasoning,
            context_window=deployment.context_window if deployment else None,
        )
    except InvalidRequest as error:
        return _failed(event, response, error, sequence_start)
    call = ChatCallRequested(
        event_id=derived_id("evt", event.response_id, "call"),
        response_id=event.response_id,
        tenant=event.tenant,
        model=request.model,
        chat=chat,
        response=response,
        stream=request.stream,
        background=request.background,
        sequence_start=sequence_start,
        affinity=event.affinity,
        key_id=event.key_id,
    )
    return [call]


def _failed(
    event: ResponseRequested, response: dict, error: InvalidRequest, sequence_start: int
) -> list[Event]:
    state, opening = stream.start(response, sequence_start=sequence_start)
    ending = stream.fail(state, code=error.failure_code, message=error.message)
    # A non-stream client gets the 400 it would have had, had the api been able to see the problem.
    http_error = {"status": error.status, **error.body()}
    return [
        *(ResponseStreamed.of(p, response_id=event.response_id, tenant=event.tenant) for p in opening),
        *(
            ResponseStreamed.of(
                p,
                response_id=event.response_id,
                tenant=event.tenant,
                http_error=http_error,
                key_id=event.key_id,
            )
            for p in ending
        ),
    ]

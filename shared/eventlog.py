"""Appending to the event log: every event goes to its per-response subject with its ``event_id`` as
``Nats-Msg-Id``, so JetStream drops a re-publish inside the duplicate window, and every append waits
for (or returns the future of) the stream's PubAck."""

import asyncio
import os

from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared import subjects
from shared.events import (
    ChatCallRequested,
    Event,
    ResponseCancelRequested,
    ResponseDeleted,
    ResponseRequested,
    ResponseStreamed,
)

DUPLICATE_WINDOW_S = 120.0


def subject_of(event: Event) -> str:
    match event:
        case ResponseStreamed():
            return subjects.response_event(event.response_id, event.type)
        case ResponseRequested():
            return subjects.requested(event.response_id)
        case ChatCallRequested():
            return subjects.chat_call(event.response_id)
        case ResponseDeleted():
            return subjects.deleted(event.response_id)
        case ResponseCancelRequested():
            return subjects.cancel_requested(event.response_id)
    raise TypeError(f"no subject for {type(event).__name__}")


async def append(js: JetStreamContext, event: Event) -> PubAck:
    """Append one event and wait until the stream has stored it."""
    return await js.publish(
        subject_of(event),
        event.model_dump_json().encode(),
        stream=subjects.STREAM,
        headers={"Nats-Msg-Id": event.event_id},
    )


async def append_pipelined(js: JetStreamContext, event: Event) -> asyncio.Future[PubAck]:
    """Append without waiting: the hot path sends every token at once and awaits the acks together."""
    return await js.publish_async(
        subject_of(event),
        event.model_dump_json().encode(),
        stream=subjects.STREAM,
        headers={"Nats-Msg-Id": event.event_id},
    )


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the log's stream, or bring its settings up to date; every service may call it at start."""
    config = StreamConfig(
        name=subjects.STREAM,
        subjects=subjects.STREAM_SUBJECTS,
        storage=StorageType.FILE,
        num_replicas=int(os.environ.get("STREAM_REPLICAS", "1")),
        # 0 keeps every event: the log is the audit trail and what a rebuild replays.
        max_age=float(os.environ.get("EVENT_RETENTION_S", "0")),
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def last_response_event(js: JetStreamContext, response_id: str) -> ResponseStreamed | None:
    """The newest client-facing event of one response in the log, if any."""
    found = []
    for subject in subjects.response_event_subjects(response_id):
        try:
            found.append(await js.get_last_msg(subjects.STREAM, subject))
        except NotFoundError:
            continue
    if not found:
        return None
    newest = max(found, key=lambda raw: raw.seq)
    return ResponseStreamed.model_validate_json(newest.data)

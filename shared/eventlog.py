"""The event log: appending events and reading them back.

Every event goes to its per-response subject with its ``event_id`` as ``Nats-Msg-Id``, so JetStream
drops a re-publish inside the duplicate window, and every append waits for (or returns the future of)
the stream's PubAck. ``append`` retries what failed transiently (a timeout, no stream leader during
an election) within a bounded budget, which the ``Nats-Msg-Id`` makes safe, then raises
``ServiceUnavailable``.

Claim check: NATS refuses a message over its ``max_payload`` (1 MiB by default), yet a request may
hold 16 MB of input and the events after it copy it (the chat call holds the whole history). An event
whose JSON exceeds ``CLAIM_CHECK_BYTES`` is first put into the Object Store bucket ``EVENT_BODIES``
under its ``event_id``; the log's message is then a small envelope (the event's ids and type, and
where its body is) with the header ``Gateway-Claim-Check`` naming the object. ``decode`` resolves it,
so every reader of the log must read events through ``decode``.

Sealing: once a process has called ``seal_with`` for its connection, every content field of an event
(``CONTENT_FIELDS``: the request, the chat body, the Response and its deltas, a backend's error) is
sealed under its response's data key (``shared/datakeys.py``, ``shared/sealing.py``) before it is
logged, and opened by ``decode``. Ids, types, times, tenant, model, deployment, status and token
counts stay readable, so the log remains an audit trail after a key is destroyed. Every service seals
(its ``main`` refuses to start without the master key); a bare connection, as tests and tools open,
reads and writes plain events.
"""

import asyncio
import json
import weakref
from typing import Any

import pydantic_core
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, PubAck, RawStreamMsg, RePublish, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import OBJ_STREAM_TEMPLATE, ObjectStore

from shared import retries, sealing, subjects
from shared.datakeys import DataKeys
from shared.events import (
    ChatCallRequested,
    ConversationCreated,
    ConversationEvent,
    ConversationItemsAdded,
    ConversationUpdated,
    Event,
    ResponseCancelRequested,
    ResponseDeleted,
    ResponseDeltas,
    ResponseRequested,
    ResponseStreamed,
    ToolCallsRequested,
    client_events,
    parse_event,
    parse_event_dict,
)

DUPLICATE_WINDOW_S = 120.0

CLAIM_CHECK_BUCKET = "EVENT_BODIES"
CLAIM_CHECK_HEADER = "Gateway-Claim-Check"
# Well under NATS's 1 MiB max_payload, so the envelope and headers never come near it; a body this
# large costs an object write and read, which small events (nearly all) never pay.
CLAIM_CHECK_BYTES = 256 * 1024
# Writing or reading a body of up to MAX_BODY_BYTES, in 128 KiB chunks.
_BODY_BUDGET = retries.Budget(total_s=60.0, attempt_s=30.0)
_BODY_READ_TIMEOUT_S = 30.0
_UNAVAILABLE = "The event log is unavailable; please retry the request."
# One lookup of a subject's last message: the log answers in well under a millisecond.
LOOKUP_TIMEOUT_S = 1.0
# How long a pipelined append waits for one of the client's pending-ack slots (4,000 by default) when
# the stream stopped acknowledging: then it fails transiently instead of blocking its run for good.
_STALL_S = 10.0


# The fields of each event that carry what a client said or was told.
CONTENT_FIELDS: dict[type[Event], tuple[str, ...]] = {
    ResponseRequested: ("request",),
    ChatCallRequested: ("chat", "response", "loop"),
    # The calls' arguments, the model's message and the whole next call (its chat and response).
    ToolCallsRequested: ("calls", "assistant", "next_call"),
    ResponseStreamed: ("payload", "http_error"),
    ResponseDeltas: ("payloads",),
    ConversationCreated: ("items", "metadata"),
    ConversationUpdated: ("metadata",),
    ConversationItemsAdded: ("items",),
}

# The data keys each sealing connection uses (``seal_with``); weak, so a closed connection's go too.
_sealers: "weakref.WeakKeyDictionary[JetStreamContext, DataKeys]" = weakref.WeakKeyDictionary()


async def seal_with(
    js: JetStreamContext,
    master: sealing.MasterKeys,
    *,
    ttl_s: float,
    replicas: int = 1,
    cache_s: float = 30.0,
    follow: bool = False,
) -> DataKeys:
    """From now on, events appended through ``js`` are sealed and sealed events it reads are opened;
    data keys expire after ``ttl_s``, with the responses they belong to, and are kept ``replicas`` times.
    ``follow``: learn new keys as they are made (``DataKeys.follow``), as services do."""
    keys = await DataKeys.open(js, master, replicas=replicas, ttl_s=ttl_s, cache_s=cache_s)
    if follow:
        await keys.follow()
    _sealers[js] = keys
    return keys


def data_keys(js: JetStreamContext) -> DataKeys | None:
    """The data keys ``js`` seals with (None on a bare connection): erasing destroys keys through them."""
    return _sealers.get(js)


class BodyMissing(LookupError):
    """A claim check names a body that is no longer in the bucket (expired, or deleted)."""


def subject_of(event: Event) -> str:
    match event:
        case ResponseStreamed():
            return subjects.response_event(event.response_id, event.type)
        case ResponseDeltas():
            return subjects.response_deltas(event.response_id)
        case ResponseRequested():
            return subjects.requested(event.response_id)
        case ChatCallRequested() | ToolCallsRequested():
            return subjects.chat_call(event.response_id)  # each a step of the response's loop
        case ResponseDeleted():
            return subjects.deleted(event.response_id)
        case ResponseCancelRequested():
            return subjects.cancel_requested(event.response_id)
        case ConversationEvent():
            return subjects.conversation_event(event.conversation_id, event.type)
    raise TypeError(f"no subject for {type(event).__name__}")


async def append(js: JetStreamContext, event: Event, *, budget: retries.Budget = retries.PUBLISH) -> PubAck:
    """Append one event and wait until the stream has stored it; ``ServiceUnavailable`` once
    ``budget`` is spent."""
    subject = subject_of(event)
    data, headers = await _laid_out(js, event)

    async def publish(timeout_s: float) -> PubAck:
        return await js.publish(subject, data, stream=subjects.STREAM, headers=headers, timeout=timeout_s)

    return await retries.retrying(
        publish, what=f"appending {event.event_id} to {subject}", budget=budget, unavailable=_UNAVAILABLE
    )


async def append_pipelined(js: JetStreamContext, event: Event) -> asyncio.Future[PubAck]:
    """Append without waiting: the hot path sends every token at once and awaits the acks together
    (with a timeout of the caller's)."""
    data, headers = await _laid_out(js, event)
    return await js.publish_async(
        subject_of(event), data, stream=subjects.STREAM, headers=headers, wait_stall=_STALL_S
    )


async def decode(js: JetStreamContext, msg: Any) -> Event:
    """The event a message of the log carries: ``msg`` is nats-py's ``Msg`` (a delivery), a
    ``RawStreamMsg`` (``js.get_msg`` / ``get_last_msg``) or FastStream's ``NatsMessage``. Raises on a
    message that is no event (pydantic's ``ValidationError``) or whose body is gone (``BodyMissing``)."""
    raw: Msg | RawStreamMsg = getattr(msg, "raw_message", msg)
    name = (raw.headers or {}).get(CLAIM_CHECK_HEADER)
    body = (raw.data or b"") if name is None else await _read_body(js, name)
    if (keys := _sealers.get(js)) is None or _SEALED_MARK not in body:
        return parse_event(body)  # nothing sealed: a plain event parses straight from its bytes
    return await _opened(keys, json.loads(body))


# How a sealed field starts in a message's JSON; inside a plain event's strings the quotes are escaped.
_SEALED_MARK = b'{"sealed":"'


async def _opened(keys: DataKeys, wire: dict[str, Any]) -> Event:
    """``wire`` with its sealed fields opened; ``KeyDestroyed`` when its response's key is gone."""
    sealed = [field for field, value in wire.items() if sealing.is_sealed(value)]
    if sealed:
        response_id = wire.get("response_id", "")
        key = await keys.get(wire.get("tenant", ""), response_id)
        for field in sealed:
            wire[field] = sealing.open_sealed(key, wire[field], response_id=response_id)
    wire.pop("readable", None)
    return parse_event_dict(wire)


async def _encoded(js: JetStreamContext, event: Event) -> bytes:
    fields = CONTENT_FIELDS.get(type(event), ())
    if (keys := _sealers.get(js)) is None or not fields:
        return event.model_dump_json().encode()
    key = await keys.get_or_create(event.tenant, event.response_id)
    # The content is encoded once, by the sealing, straight from the event's fields; the envelope is
    # dumped without it (a request's or a chat call's tools made it the larger part of the cost).
    wire = event.model_dump(mode="json", exclude=set(fields))
    for field in fields:
        value = getattr(event, field)
        wire[field] = None if value is None else sealing.seal(key, value, response_id=event.response_id)
    wire["readable"] = _readable(event)
    # pydantic-core's encoder: a fifth of json.dumps's time, and the worker encodes every token's event.
    return pydantic_core.to_json(wire)


def _readable(event: Event) -> dict[str, Any]:
    """What an audit may read of a sealed event whatever becomes of its key."""
    match event:
        case ResponseRequested(request=request):
            return {"model": request.model, "store": request.store, "background": request.background}
        case ResponseStreamed() if event.is_terminal:
            response = event.payload.get("response") or {}
            return {"status": response.get("status"), "usage": response.get("usage")}
    return {}


async def last_message(
    js: JetStreamContext, subject: str, *, timeout_s: float = LOOKUP_TIMEOUT_S
) -> RawStreamMsg | None:
    """The log's last message on ``subject``; None when there is none. A log that cannot tell within
    ``timeout_s`` (a stream without a leader does not answer) raises, as any other failure: "none"
    and "not known now" are different answers (a read-your-writes lookup that took one for the other
    told a client its response did not exist)."""
    try:
        async with asyncio.timeout(timeout_s):  # in this task: the lookup leaves with what it sent before
            return await js.get_last_msg(subjects.STREAM, subject)
    except NotFoundError:
        return None


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
    return client_events(await decode(js, max(found, key=lambda raw: raw.seq)))[-1]


async def ensure_stream(js: JetStreamContext, *, replicas: int = 1, retention_s: float = 0.0) -> None:
    """Create the log's stream and its claim-check bucket, or bring their settings up to date; every
    service may call it at start (``Settings.stream_replicas``, ``event_retention_s``)."""
    config = StreamConfig(
        name=subjects.STREAM,
        subjects=subjects.STREAM_SUBJECTS,
        storage=StorageType.FILE,
        num_replicas=replicas,
        # 0 keeps every event: the log is the audit trail and what a rebuild replays.
        max_age=retention_s,
        duplicate_window=DUPLICATE_WINDOW_S,
        # What the api follows live: a core NATS copy of each response event sent only once the log
        # holds it, so no client is told what a dying leader never stored.
        republish=RePublish(src=subjects.REPUBLISH_SOURCE, dest=subjects.REPUBLISH_DESTINATION),
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)
    await _ensure_bucket(js, replicas=replicas, retention_s=retention_s)


async def _ensure_bucket(js: JetStreamContext, *, replicas: int, retention_s: float) -> None:
    """The bucket keeps bodies as long as the log keeps the envelopes that name them."""
    try:
        await js.create_object_store(
            CLAIM_CHECK_BUCKET,
            ObjectStoreConfig(
                description="bodies of events too large for a NATS message (see shared/eventlog.py)",
                storage=StorageType.FILE,
                replicas=replicas,
                ttl=retention_s,
            ),
        )
    except BadRequestError:  # it exists with other settings: change only what we own
        current = (await js.stream_info(_bucket_stream())).config
        await js.update_stream(current.evolve(num_replicas=replicas, max_age=retention_s))


def _bucket_stream() -> str:
    return OBJ_STREAM_TEMPLATE.format(bucket=CLAIM_CHECK_BUCKET)


def _bucket(js: JetStreamContext) -> ObjectStore:
    # Built directly: js.object_store() would ask the server for the stream's info on every call.
    return ObjectStore(name=CLAIM_CHECK_BUCKET, stream=_bucket_stream(), js=js)


async def _laid_out(js: JetStreamContext, event: Event) -> tuple[bytes, dict[str, str]]:
    """The message body and headers that carry ``event``: the event itself, or its claim check."""
    body = await _encoded(js, event)
    headers = {"Nats-Msg-Id": event.event_id}
    if len(body) <= CLAIM_CHECK_BYTES:
        return body, headers
    await retries.retrying(
        lambda _: _keep_body(js, event.event_id, body),
        what=f"keeping the body of {event.event_id}",
        budget=_BODY_BUDGET,
        unavailable=_UNAVAILABLE,
    )
    return _envelope(event, len(body)), {**headers, CLAIM_CHECK_HEADER: event.event_id}


def _envelope(event: Event, size: int) -> bytes:
    """What the log shows of a claim-checked event: enough for an audit to see what it was."""
    facts = event.model_dump(include={"v", "event_id", "response_id", "tenant", "occurred_at", "type"})
    claim = {"bucket": CLAIM_CHECK_BUCKET, "name": event.event_id, "bytes": size}
    return json.dumps({**facts, "claim_check": claim}, separators=(",", ":")).encode()


async def _keep_body(js: JetStreamContext, name: str, body: bytes) -> None:
    """Idempotent: the first complete write of a name wins, as JetStream keeps the first message of
    a ``Nats-Msg-Id``, so every reader of one event sees the same body."""
    bucket = _bucket(js)
    try:
        await bucket.get_info(name)
        return
    except ObjectNotFoundError:
        pass
    await bucket.put(name, body)


async def _read_body(js: JetStreamContext, name: str) -> bytes:
    try:
        found = await asyncio.wait_for(_bucket(js).get(name), timeout=_BODY_READ_TIMEOUT_S)
    except ObjectNotFoundError:
        raise BodyMissing(f"the body of event {name} is not in {CLAIM_CHECK_BUCKET}") from None
    return found.data

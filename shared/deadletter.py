"""The dead-letter stream: where a message that failed for good is kept for an operator, with why.

Each dead letter is the original message's body under ``dlq.<consumer>.<original subject>``, with
the original's headers (a claim check among them; its ``Nats-Msg-Id`` moves to
``Gateway-Dead-Msg-Id``) and headers naming the reason, the consumer, the original subject and
stream sequence and how often it was delivered. Its ``Nats-Msg-Id`` derives from the consumer and the
original sequence, so recording the same failure twice keeps one letter.

Letters come from two places: ``shared.consumers.settle`` (a handler failed permanently, or on its
last delivery) and ``watch_exhausted`` (every delivery timed out: the process handling it died, again
and again, so no handler was left to record it).

Operators list, show, redrive and purge letters with ``python -m shared.deadletter_cli``.
"""

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared import retries, subjects

log = logging.getLogger(__name__)

STREAM = "DEADLETTER"
SUBJECTS = ["dlq.>"]
# A bound, so that a flood of poison cannot fill the disk; the oldest letters go first.
MAX_LETTERS = 100_000

REASON = "Gateway-Dead-Reason"
CONSUMER = "Gateway-Dead-Consumer"
ORIGINAL_SUBJECT = "Gateway-Dead-Subject"
ORIGINAL_SEQUENCE = "Gateway-Dead-Sequence"
ORIGINAL_MSG_ID = "Gateway-Dead-Msg-Id"
DELIVERIES = "Gateway-Dead-Deliveries"

_MSG_ID = "Nats-Msg-Id"
_RECORD_BUDGET = retries.Budget(total_s=10.0)


def subject(consumer: str, original_subject: str) -> str:
    return f"dlq.{consumer}.{original_subject}"


def exhausted_advisory(stream: str, consumer: str) -> str:
    """What JetStream publishes when a message of ``consumer`` reached its ``max_deliver``."""
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"


async def ensure_stream(js: JetStreamContext, *, replicas: int) -> None:
    config = StreamConfig(
        name=STREAM,
        subjects=SUBJECTS,
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_msgs=MAX_LETTERS,
        duplicate_window=120.0,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


@dataclass(frozen=True)
class Original:
    """The message a letter keeps: where it was in the log, and how often it was delivered."""

    subject: str
    sequence: int
    data: bytes
    headers: dict[str, str]
    deliveries: int


async def record(js: JetStreamContext, msg: Msg, *, consumer: str, reason: str) -> None:
    """Keep ``msg`` (a JetStream delivery) as a dead letter of ``consumer``."""
    meta = msg.metadata
    original = Original(msg.subject, meta.sequence.stream, msg.data, msg.headers or {}, meta.num_delivered)
    await keep(js, original, consumer=consumer, reason=reason)


async def keep(js: JetStreamContext, original: Original, *, consumer: str, reason: str) -> None:
    headers = {k: v for k, v in original.headers.items() if k != _MSG_ID}
    if msg_id := original.headers.get(_MSG_ID):
        headers[ORIGINAL_MSG_ID] = msg_id
    headers |= {
        _MSG_ID: f"dlq.{consumer}.{original.sequence}",
        REASON: " ".join(reason.split()),  # a header holds one line
        CONSUMER: consumer,
        ORIGINAL_SUBJECT: original.subject,
        ORIGINAL_SEQUENCE: str(original.sequence),
        DELIVERIES: str(original.deliveries),
    }
    letter = subject(consumer, original.subject)

    async def publish(timeout_s: float) -> None:
        await js.publish(letter, original.data, stream=STREAM, headers=headers, timeout=timeout_s)

    await retries.retrying(publish, what=f"dead-lettering {letter}", budget=_RECORD_BUDGET)


# Called for a message whose deliveries ran out, with the message as the log holds it and the reason.
OnExhausted = Callable[[RawStreamMsg, str], Awaitable[None]]


async def watch_exhausted(
    nc: Client,
    js: JetStreamContext,
    *,
    consumer: str,
    stream: str = subjects.STREAM,
    on_exhausted: OnExhausted | None = None,
) -> Subscription:
    """Dead-letter each message of the durable ``consumer`` whose deliveries ran out by ack timeouts,
    and hand it to ``on_exhausted`` (to end its response failed). Every replica of the service runs
    this; the queue group gives each advisory to one of them. Advisories are core NATS: one that
    arrives while no replica listens is lost, and its message stays only in the log."""

    async def on_advisory(advisory: Msg) -> None:
        try:
            await _exhausted(js, advisory, consumer=consumer, stream=stream, on_exhausted=on_exhausted)
        except Exception:
            log.exception("%s: could not dead-letter an exhausted message: %r", consumer, advisory.data)

    return await nc.subscribe(
        exhausted_advisory(stream, consumer), queue=f"deadletter.{consumer}", cb=on_advisory
    )


async def _exhausted(
    js: JetStreamContext, advisory: Msg, *, consumer: str, stream: str, on_exhausted: OnExhausted | None
) -> None:
    facts = json.loads(advisory.data)
    sequence, deliveries = int(facts["stream_seq"]), int(facts.get("deliveries", 0))
    try:
        raw = await retries.retrying(
            lambda _: js.get_msg(stream, sequence),
            what=f"reading {stream} seq {sequence}",
            budget=_RECORD_BUDGET,
        )
    except NotFoundError:
        log.warning("%s: exhausted message %d is no longer in %s", consumer, sequence, stream)
        return
    reason = f"no answer after {deliveries} deliveries: each timed out (its handler died or stalled)"
    original = Original(raw.subject or "", sequence, raw.data or b"", raw.headers or {}, deliveries)
    log.error("%s: %s (stream seq %d): %s", consumer, original.subject, sequence, reason)
    await keep(js, original, consumer=consumer, reason=reason)
    if on_exhausted is not None:
        try:
            await on_exhausted(raw, reason)
        except Exception:
            log.exception("%s: could not end the response of exhausted message %d failed", consumer, sequence)


@dataclass(frozen=True)
class Letter:
    sequence: int
    consumer: str
    original_subject: str
    original_sequence: int
    deliveries: int
    reason: str
    data: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, raw: RawStreamMsg) -> "Letter":
        headers = raw.headers or {}
        return cls(
            sequence=raw.seq or 0,
            consumer=headers.get(CONSUMER, ""),
            original_subject=headers.get(ORIGINAL_SUBJECT, ""),
            original_sequence=int(headers.get(ORIGINAL_SEQUENCE, 0)),
            deliveries=int(headers.get(DELIVERIES, 0)),
            reason=headers.get(REASON, ""),
            data=raw.data or b"",
            headers=headers,
        )

    def original_headers(self) -> dict[str, str]:
        """The headers the original message carried, its ``Nats-Msg-Id`` left out."""
        ours = {REASON, CONSUMER, ORIGINAL_SUBJECT, ORIGINAL_SEQUENCE, ORIGINAL_MSG_ID, DELIVERIES, _MSG_ID}
        return {k: v for k, v in self.headers.items() if k not in ours and not k.startswith("Nats-")}


async def letters(js: JetStreamContext, *, consumer: str | None = None) -> AsyncIterator[Letter]:
    """Every letter, oldest first (of ``consumer`` only, when given)."""
    state = (await js.stream_info(STREAM)).state
    filter_subject = subject(consumer, ">") if consumer else SUBJECTS[0]
    sequence = state.first_seq
    while state.messages and sequence <= state.last_seq:
        try:
            raw = await js.get_msg(STREAM, sequence, subject=filter_subject, next=True)
        except NotFoundError:
            return
        yield Letter.of(raw)
        sequence = (raw.seq or sequence) + 1


async def letter(js: JetStreamContext, sequence: int) -> Letter:
    return Letter.of(await js.get_msg(STREAM, sequence))


async def redrive(js: JetStreamContext, sequence: int) -> int:
    """Publish the letter's body to its original subject again, under a new ``Nats-Msg-Id`` (derived
    from the letter, so a redrive repeated after a crash is dropped as a duplicate), and delete the
    letter. Every consumer of that subject gets it again. Returns its new sequence in the log."""
    dead = await letter(js, sequence)
    if not dead.original_subject:
        raise ValueError(f"message {sequence} of {STREAM} is not a dead letter")
    headers = {**dead.original_headers(), _MSG_ID: f"redrive.{STREAM}.{sequence}"}
    ack = await js.publish(dead.original_subject, dead.data, stream=subjects.STREAM, headers=headers)
    await js.delete_msg(STREAM, sequence)
    return ack.seq


async def purge(js: JetStreamContext, sequence: int) -> None:
    await js.delete_msg(STREAM, sequence)

"""The translator's subscription: a requested response in, the chat call for it out.

A message is settled by ``shared.consumers.settle``: a transient failure is retried a bounded number
of times, anything else (a message that is no request, a translation that raises) ends the response
``failed`` with ``server_error`` once and dead-letters the message. So does a request whose every
delivery timed out (``shared.deadletter.watch_exhausted``, started in ``main.py``).
"""

import logging

from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RawStreamMsg
from nats.js.errors import NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from services.translator import build
from services.translator.folds import FoldedChains
from shared import bus, consumers, eventlog, reasoning_blobs, subjects
from shared.config import GatewayConfig, runnable_tool_types
from shared.events import Event, ResponseRequested
from shared.inhand import InHand
from shared.readmodel import chains, fresh
from shared.readmodel.turns import TurnCache
from shared.sealing import MasterKeys

log = logging.getLogger(__name__)

DURABLE = "translator"
REDELIVERY = consumers.REDELIVERY
# A handled request is kept in progress every HEARTBEAT_S, so a translator that died is noticed
# (its request redelivered to another replica) after ACK_WAIT_S.
ACK_WAIT_S = 5.0
HEARTBEAT_S = 1.5


def register(
    broker: NatsBroker,
    *,
    js: JetStreamContext,
    db: AsyncDatabase,
    config: GatewayConfig,
    master: MasterKeys,
    concurrency: int,
    log_reads: fresh.LogReads,
) -> InHand:
    """``log_reads``: the log, for the turns the store has not projected yet. The requests in hand
    are returned for their ``drain`` at shutdown."""
    turns = TurnCache(epoch=lambda: broker.connection.stats["reconnects"])
    folds = FoldedChains(turns)

    async def on_requested(msg: NatsMessage) -> None:
        requested: list[ResponseRequested] = []  # set once the message decoded: then it can be failed

        async def work() -> None:
            event = await _requested(js, msg)
            requested.append(event)
            built = await translate(
                event, db=db, log=log_reads, turns=turns, folds=folds, config=config, master=master
            )
            for out in built:
                await eventlog.append(js, out)

        async def on_failure(reason: str) -> None:
            if requested:
                await fail_response(js, requested[0])

        await consumers.settle(
            msg,
            work,
            js=js,
            consumer=DURABLE,
            on_failure=on_failure,
            policy=REDELIVERY,
            heartbeat_s=HEARTBEAT_S,
        )

    async def on_deleted(msg: NatsMessage) -> None:
        turns.forget((await eventlog.decode(js, msg)).response_id)

    handlers = {"requested": on_requested, "deleted": on_deleted}
    return bus.subscribe(broker, DURABLE, handlers, concurrency=concurrency, durable=consumer_config())


def consumer_config() -> ConsumerConfig:
    """What the durable must be; ``main.py`` also applies it to one an older version made. Heartbeats
    cover a translation's bounded steps (a chain lookup, appends retried within their budget), so a
    redelivery means the translator died, and ``max_deliver`` of them are dead-lettered."""
    return ConsumerConfig(max_deliver=REDELIVERY.max_deliver, ack_wait=ACK_WAIT_S)


async def on_exhausted(js: JetStreamContext, raw: RawStreamMsg, reason: str) -> None:
    """A request whose deliveries ran out by timeouts (``deadletter.watch_exhausted``): fail it."""
    await fail_response(js, await _requested(js, raw))


async def _requested(js: JetStreamContext, msg: object) -> ResponseRequested:
    event = await eventlog.decode(js, msg)
    if not isinstance(event, ResponseRequested):
        raise TypeError(f"a {type(event).__name__} on a request subject")
    return event


async def fail_response(js: JetStreamContext, event: ResponseRequested) -> None:
    """End the response ``failed`` with ``server_error``, unless its chat call is in the log: then the
    worker owns the response, and this failure came after the translator's part was done."""
    try:
        await js.get_last_msg(subjects.STREAM, subjects.chat_call(event.response_id))
        return
    except NotFoundError:
        pass
    log.error("%s: ending it failed", event.response_id)
    for out in build.failed_events(event, build.SERVER_ERROR):
        await eventlog.append(js, out)


async def translate(
    event: ResponseRequested,
    *,
    db: AsyncDatabase,
    log: fresh.LogReads,
    turns: TurnCache,
    folds: FoldedChains,
    config: GatewayConfig,
    master: MasterKeys,
) -> list[Event]:
    """Load what the request needs from the projection (and the log, for the turn just answered that
    the store may not have projected yet), then build its events (``build.py``, pure). ``master``
    opens the reasoning a stateless client hands back (``shared/reasoning_blobs.py``); ``turns`` holds
    the finished turns of chains read before, and ``folds`` those chains folded."""
    loaded = await chains.load(
        db, tenant=event.tenant, chain=event.chain, request=event.request, log=log, cache=turns
    )
    return build.chat_call(
        event,
        loaded,
        replay_reasoning=config.replay_reasoning,
        runnable=runnable_tool_types(config),
        open_reasoning=reasoning_blobs.opener(master, event.tenant),
        folded=folds.fold(loaded.history, replay_reasoning=config.replay_reasoning),
    )

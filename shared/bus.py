"""The NATS connection every service opens the same way: reconnect forever, make sure the log's
stream exists before any consumer binds to it, and answer health pings."""

import logging
import warnings

from faststream.nats import JStream, NatsBroker
from nats.errors import SlowConsumerError
from nats.js import JetStreamContext

from shared import eventlog, subjects


def _not_a_slow_consumer(record: logging.LogRecord) -> bool:
    # A slow consumer is a live stream whose client stopped reading: NATS drops that stream's
    # overflow by design and the api continues it from the log. FastStream would log every
    # dropped message as a broken connection: a flood, and no news.
    return not (record.exc_info and isinstance(record.exc_info[1], SlowConsumerError))


# FastStream warns about every durable push consumer, with or without a deliver group. Ours always
# have one (`queue=` the service's name), which is how NATS spreads a push consumer over replicas.
warnings.filterwarnings(
    "ignore", message="The JetStream Push consumer with the `durable` option", category=RuntimeWarning
)

_broker_log = logging.getLogger("gateway.broker")
_broker_log.addFilter(_not_a_slow_consumer)

# Consumers bind to the stream `ensure_stream` made; FastStream must not declare it with its own settings.
LOG = JStream(subjects.STREAM, declare=False)


def new_broker(nats_url: str, service: str) -> NatsBroker:
    broker = NatsBroker(
        nats_url,
        name=service,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        graceful_timeout=10.0,
        # FastStream logs every message at INFO; on the token path that is most of the CPU.
        log_level=logging.DEBUG,
        logger=_broker_log,
    )

    @broker.subscriber(subjects.health(service), queue=service)
    async def answer_health() -> str:
        return "ok"

    return broker


async def connect(broker: NatsBroker) -> JetStreamContext:
    """Connect and ensure the stream; call before ``broker.start()`` binds the consumers."""
    await broker.connect()
    js = broker.connection.jetstream()
    await eventlog.ensure_stream(js)
    return js

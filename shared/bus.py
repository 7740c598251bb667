"""The NATS connection every service opens the same way: reconnect forever, authenticate and encrypt
as the settings say, make sure the log's stream exists before any consumer binds to it; and the
subscriptions of a service, made from ``shared.topology``'s table (health pings answered there)."""

import logging
import ssl
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage
from faststream.nats.security import (
    NatsCredentials,
    NatsNKey,
    NatsSecurity,
    NatsUserPassword,
    parse_security,
)
from nats.errors import SlowConsumerError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from shared import deadletter, eventlog, subjects, topology
from shared.config import ConfigError, Settings
from shared.inhand import InHand
from shared.sealing import MasterKeys


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
RESPONSES_STREAM = JStream(subjects.STREAM, declare=False)


def servers(nats_url: str) -> list[str]:
    """``NATS_URL`` as a list of servers: nats-py takes a list, not the comma-separated form
    (``nats://a:4222,nats://b:4222``) that NATS tools accept. Without their logins, which ``security``
    passes for every server."""
    return [_without_login(url) for url in _urls(nats_url)]


def _urls(nats_url: str) -> list[str]:
    return [url.strip() for url in nats_url.split(",") if url.strip()]


def _without_login(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def security(settings: Settings) -> NatsSecurity | None:
    """How to authenticate, by one of a creds file, an nkey seed file or the user and password of
    ``NATS_URL`` (``nats://user:pass@host:4222``, as NATS tools take them), and which TLS context to use.

    The URL's login is also passed as the connection's own: nats-py gives a URL's login only to that
    URL's server, and a cluster node learnt later would answer ``Authorization Violation``."""
    login = _login(settings.nats_url)
    if sum(map(bool, (settings.nats_creds, settings.nats_nkey_seed, login))) > 1:
        raise ConfigError("authenticate to NATS one way: NATS_CREDS, NATS_NKEY_SEED or a login in NATS_URL")
    tls = _tls_context(settings)
    if settings.nats_creds:
        return NatsCredentials.from_file(settings.nats_creds, ssl_context=tls)
    if settings.nats_nkey_seed:
        return NatsNKey.from_file(settings.nats_nkey_seed, ssl_context=tls)
    if login:
        return NatsUserPassword(*login, ssl_context=tls)
    return NatsSecurity(ssl_context=tls) if tls else None


def _login(nats_url: str) -> tuple[str, str] | None:
    """The first user and password among the servers of ``NATS_URL``."""
    for url in _urls(nats_url):
        parts = urlsplit(url)
        if parts.username is not None and parts.password is not None:
            return parts.username, parts.password
    return None


def connect_options(settings: Settings) -> dict[str, Any]:
    """``nats.connect`` arguments for a plain client (a CLI), the same servers and credentials as
    ``new_broker``'s."""
    return {"servers": servers(settings.nats_url), **parse_security(security(settings))}


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    """Server verification against ``NATS_TLS_CA`` (else the system's CAs), and the client certificate
    for mutual TLS; None when no TLS setting is given (a ``tls://`` URL still gets the default context)."""
    if settings.nats_tls_key and not settings.nats_tls_cert:
        raise ConfigError("NATS_TLS_KEY is set without NATS_TLS_CERT")
    if not (settings.nats_tls_ca or settings.nats_tls_cert):
        return None
    context = ssl.create_default_context(cafile=settings.nats_tls_ca)
    if settings.nats_tls_cert:
        context.load_cert_chain(settings.nats_tls_cert, settings.nats_tls_key)
    return context


# How long a stopping service waits for the messages in its hands before it closes its connection.
GRACEFUL_TIMEOUT_S = 10.0


async def _undecoded(msg: NatsMessage) -> NatsMessage:
    return msg


def new_broker(settings: Settings, service: str) -> NatsBroker:
    """A handler is called with its ``NatsMessage`` and nothing else. Every handler opens its event
    itself (``eventlog.decode``: sealed content, the data key), so FastStream's JSON decoding of the
    body and its dependency injection were work thrown away: about 300 µs of CPU a message
    (``python -m bench.dispatch_cost``), and an injected message had to dodge a thread hop besides."""
    return NatsBroker(
        servers(settings.nats_url),
        apply_types=False,
        decoder=_undecoded,
        security=security(settings),
        name=service,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        graceful_timeout=GRACEFUL_TIMEOUT_S,
        # FastStream logs every message at INFO; on the token path that is most of the CPU.
        log_level=logging.DEBUG,
        logger=_broker_log,
    )


async def _answer_health(_: NatsMessage) -> str:
    return "ok"


Handler = Callable[..., Awaitable[Any]]


def subscribe(
    broker: NatsBroker,
    service: str,
    handlers: Mapping[str, Handler],
    *,
    concurrency: int,
    durable: ConsumerConfig | None = None,
) -> InHand:
    """Subscribe ``service``'s ``handlers`` (by the names ``shared.topology`` gives them) where the table
    routes its messages; call before the broker starts. Its durable consumer (named after the service,
    its replicas a deliver group) settles messages itself (``AckPolicy.MANUAL``), handles each in a
    task of its own (``InHand``: returned, for its ``drain`` at shutdown) and gets ``durable`` as its
    configuration: several filter subjects must be in it, one is the subscription's subject."""
    filters = topology.durable_filters(service)
    if not filters:
        raise ValueError(f"the topology gives {service!r} no durable consumer")
    handlers = {"health": _answer_health, **handlers}
    for route, consumer in topology.consumed_by(service):
        subject = topology.listen(route, service)
        match consumer.delivery:
            case topology.Delivery.CORE:
                # A core subscription on a stream subject must not answer: its empty reply would race
                # the stream's PubAck to the publisher.
                broker.subscriber(subject, no_reply=True)(handlers[consumer.handler or ""])
            case topology.Delivery.REQUEST_REPLY:
                broker.subscriber(subject, queue=service, max_workers=concurrency)(
                    handlers[consumer.handler or ""]
                )
    [name] = {c.handler for _, c in topology.consumed_by(service) if c.delivery is topology.Delivery.DURABLE}
    in_hand = InHand(handlers[name or ""], limit=concurrency, grace_s=GRACEFUL_TIMEOUT_S)
    broker.subscriber(
        filters[0] if len(filters) == 1 else "",
        stream=RESPONSES_STREAM,
        durable=service,
        queue=service,
        config=durable,
        ack_policy=AckPolicy.MANUAL,
    )(in_hand.take)
    return in_hand


async def connect(
    broker: NatsBroker, *, settings: Settings | None = None, master: MasterKeys | None = None
) -> JetStreamContext:
    """Connect and ensure the streams (the log, its claim-check bucket, the dead letters) as ``settings``
    say; call before ``broker.start()`` binds the consumers. With ``master`` (every service) the
    connection seals what it logs, its data keys expiring with their responses (``response_ttl_s``);
    without it (tests, tools) events stay plain."""
    settings = settings or Settings()
    replicas = settings.stream_replicas
    await broker.connect()
    js = broker.connection.jetstream()
    await eventlog.ensure_stream(js, replicas=replicas, retention_s=settings.event_retention_s)
    await deadletter.ensure_stream(js, replicas=replicas)
    if master is not None:
        await eventlog.seal_with(js, master, ttl_s=settings.response_ttl_s, replicas=replicas, follow=True)
    return js

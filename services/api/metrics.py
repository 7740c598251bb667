"""Prometheus ``/metrics`` of the api: HTTP request rate and latency, time to first token of streams,
requests in flight, and the lag of every service's durable consumer, read from JetStream at scrape
time. What only the worker sees (backend attempts and errors, cooldowns, tokens) each worker serves
on its own ``METRICS_PORT`` (``services/worker/metrics.py``). With ``METRICS_TOKEN`` set, ``/metrics``
answers only ``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials: ...}``)."""

import asyncio
import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.auth import presented_key
from services.api.deps import GatewayDep
from shared import subjects
from shared.errors import AuthenticationFailed

router = APIRouter()

REQUESTS = Counter("gateway_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "From request to the last byte of the answer (a stream's whole length)",
    ["method", "route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "gateway_time_to_first_token_seconds",
    "Streamed responses: from request to the first delta event sent",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUILTIN_TOOLS_DROPPED = Counter(
    "gateway_builtin_tools_dropped",
    "Built-in tools of requests the gateway did not run, as configured (tools.unsupported: drop)",
    ["type"],
)
IN_FLIGHT = Gauge("gateway_http_requests_in_flight", "HTTP requests being answered")
CONSUMER_PENDING = Gauge(
    "gateway_consumer_pending", "Messages not yet delivered to a service's durable consumer", ["durable"]
)
CONSUMER_ACK_PENDING = Gauge(
    "gateway_consumer_ack_pending", "Messages delivered to a durable consumer and not yet acked", ["durable"]
)

# The first delta frame of a stream; frames are searched only until it was seen.
_DELTA_MARK = b".delta\n"


class Instrumented:
    """ASGI middleware timing every HTTP request; the route label is the matched path template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, first_token = 500, False

        async def timed_send(message: Message) -> None:
            nonlocal status, first_token
            if message["type"] == "http.response.start":
                status = message["status"]
            elif not first_token and _DELTA_MARK in message.get("body", b""):
                first_token = True
                TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - started)
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            IN_FLIGHT.dec()
            route = _route(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    # Unmatched paths share one label, so scanners cannot grow the label set.
    route: Any = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


@router.get("/metrics", include_in_schema=False)
async def metrics(gateway: GatewayDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    token = gateway.settings.metrics_token
    if token is not None and not token_matches(token.get_secret_value(), authorization):
        raise AuthenticationFailed("/metrics needs the metrics token as a Bearer key.")
    await _read_consumer_lag(gateway.js)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def token_matches(token: str, authorization: str | None) -> bool:
    presented = presented_key(authorization) or ""
    # Constant time: how long a refusal takes must not tell how much of the token was right.
    return hmac.compare_digest(presented.encode(), token.encode())


async def _read_consumer_lag(js: JetStreamContext | None) -> None:
    if js is None:
        return

    async def one(durable: str) -> None:
        try:
            info = await js.consumer_info(subjects.STREAM, durable)
        except NotFoundError:
            return
        CONSUMER_PENDING.labels(durable).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(durable).set(info.num_ack_pending or 0)

    await asyncio.gather(*(one(durable) for durable in subjects.SERVICES))

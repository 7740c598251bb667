"""Backend calls the api asks the worker for over NATS request/reply (``subjects.BACKEND_COMPLETE``,
``subjects.BACKEND_COUNT``), so that every backend call goes through the worker's pool (routing,
failover, cooldowns, rate limits, metrics) and only the worker holds backend keys.

A call is answered at once and logs nothing, so it travels on core NATS: one request to the queue group
of the worker replicas, one reply. The api waits a bounded time: no worker running is a 503, none
answering in time a 504. An error the worker raised (a model it does not serve, a backend refusing the
request) comes back as a ``Refused`` reply and is raised again in the api as the same HTTP answer.

Requests are JSON, deflated past ``_DEFLATE_AT`` bytes (a long chain is mostly text): NATS carries at
most ``max_payload`` (1 MiB by default) a message, and a request still larger after that is refused as
too large.
"""

import zlib
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from shared.errors import GatewayError, GatewayTimeout, InvalidRequest, ServiceUnavailable


class Refused(BaseModel):
    """A worker's error reply: the HTTP status, OpenAI's error object and the headers to answer with."""

    status: int
    error: dict[str, Any]
    headers: dict[str, str] = {}

    @classmethod
    def of(cls, error: GatewayError) -> "Refused":
        return cls(**error.http_error(), headers=error.headers())


class CompletionRequested(BaseModel):
    """Run one chat body to its end and answer the Response object its stream folds into (``compact``)."""

    model: str
    chat: dict[str, Any]
    # The request's `truncation: "auto"`: fit the chat to the window of the deployment that serves.
    truncate: bool = False
    response_id: str
    # The request's vendor fields: a deployment not listing one (``extra_fields``) is sent it without.
    vendor_fields: list[str] = []


class Completed(BaseModel):
    response: dict[str, Any] | None = None
    refused: Refused | None = None


class TokenCountRequested(BaseModel):
    """Count the input tokens of one chat body as the deployment that would serve it sees it
    (``input_tokens``): its tokenizer where it names one, else the estimate."""

    model: str
    chat: dict[str, Any]
    truncate: bool = False


class TokensCounted(BaseModel):
    input_tokens: int = 0
    refused: Refused | None = None


class RefusedByWorker(GatewayError):
    """A ``Refused`` reply raised again in the api: the same status, error object and headers."""

    def __init__(self, refused: Refused) -> None:
        error = refused.error
        super().__init__(
            str(error.get("message") or "The worker refused the request."), param=error.get("param")
        )
        self.status = refused.status
        self.type = str(error.get("type") or GatewayError.type)
        self.code = error.get("code")
        self._headers = refused.headers

    def headers(self) -> dict[str, str]:
        return self._headers


Reply = TypeVar("Reply", Completed, TokensCounted)

DEFLATED = {"Content-Encoding": "deflate"}
_DEFLATE_AT = 64 * 1024


def encode(request: BaseModel) -> tuple[bytes, dict[str, str] | None]:
    data = request.model_dump_json().encode()
    if len(data) <= _DEFLATE_AT:
        return data, None
    return zlib.compress(data, 1), DEFLATED


def decode(data: bytes, headers: dict[str, str] | None, model: type[BaseModel]) -> Any:
    if (headers or {}).get("Content-Encoding") == DEFLATED["Content-Encoding"]:
        data = zlib.decompress(data)
    return model.model_validate_json(data)


async def ask(nc: Client, subject: str, request: BaseModel, reply: type[Reply], *, timeout_s: float) -> Reply:
    """The worker's answer to ``request``; raises what it refused with, ``ServiceUnavailable`` when no
    worker is running and ``GatewayTimeout`` when none answered within ``timeout_s``."""
    data, headers = encode(request)
    if len(data) > nc.max_payload:
        raise InvalidRequest(
            f"The request is too large to send to a backend ({len(data)} bytes compressed).",
            code="request_too_large",
        )
    try:
        message = await nc.request(subject, data, timeout=timeout_s, headers=headers)
    except NoRespondersError:
        raise ServiceUnavailable("No worker is running to serve this request; please retry it.") from None
    except NatsTimeout:
        raise GatewayTimeout(
            f"No worker answered within {timeout_s:.0f}s; please retry the request."
        ) from None
    answer = reply.model_validate_json(message.data)
    if answer.refused is not None:
        raise RefusedByWorker(answer.refused)
    return answer

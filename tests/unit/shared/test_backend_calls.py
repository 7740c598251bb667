"""The api's side of a backend call: what it answers when no worker runs, none answers, or one refuses."""

import zlib

import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared import backend_calls
from shared.backend_calls import Completed, CompletionRequested, Refused, TokenCountRequested, TokensCounted
from shared.errors import GatewayTimeout, InvalidRequest, RateLimited, ServiceUnavailable

ASKED = TokenCountRequested(model="m", chat={"messages": [{"role": "user", "content": "hi"}]})


class Reply:
    def __init__(self, data: bytes) -> None:
        self.data = data


class Connection:
    """nats-py's ``Client`` as ``ask`` uses it: ``answer`` is what its one request gets."""

    max_payload = 1024 * 1024

    def __init__(self, answer: BaseException | bytes) -> None:
        self.answer = answer
        self.sent: list[tuple[str, bytes, dict | None, float]] = []

    async def request(self, subject: str, data: bytes, *, timeout: float, headers: dict | None) -> Reply:
        self.sent.append((subject, data, headers, timeout))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return Reply(self.answer)


async def ask(nc: Connection, request=ASKED, reply=TokensCounted):
    return await backend_calls.ask(nc, "backend.count", request, reply, timeout_s=2.0)  # type: ignore[arg-type]


async def test_no_worker_running_is_a_503_and_none_answering_a_504():
    with pytest.raises(ServiceUnavailable):
        await ask(Connection(NoRespondersError()))
    with pytest.raises(GatewayTimeout) as timed_out:
        await ask(Connection(NatsTimeout()))
    assert timed_out.value.status == 504 and timed_out.value.body()["error"]["code"] == "timeout"


async def test_a_refusal_is_raised_again_as_the_same_http_answer():
    refused = Refused.of(RateLimited("slow down", retry_after_s=3))
    with pytest.raises(backend_calls.RefusedByWorker) as raised:
        await ask(Connection(TokensCounted(refused=refused).model_dump_json().encode()))
    assert raised.value.status == 429
    assert raised.value.body() == RateLimited("slow down").body()
    assert raised.value.headers() == {"retry-after": "3"}


async def test_an_answer_is_returned_and_a_large_request_travels_deflated():
    nc = Connection(TokensCounted(input_tokens=5).model_dump_json().encode())
    assert (await ask(nc)).input_tokens == 5
    large = CompletionRequested(model="m", chat={"messages": [{"content": "x" * 500_000}]}, response_id="r")
    nc = Connection(Completed(response={"id": "r"}).model_dump_json().encode())
    await ask(nc, large, Completed)
    [(_, data, headers, _)] = nc.sent
    assert len(data) < 100_000 and headers == backend_calls.DEFLATED
    assert backend_calls.decode(data, headers, CompletionRequested) == large
    assert zlib.decompress(data) == large.model_dump_json().encode()


async def test_a_request_too_large_even_deflated_is_refused_before_it_is_sent():
    nc = Connection(b"")
    nc.max_payload = 10
    with pytest.raises(InvalidRequest) as raised:
        await ask(nc)
    assert raised.value.code == "request_too_large" and nc.sent == []

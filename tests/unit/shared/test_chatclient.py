import httpx
import pytest

from shared import chatclient
from shared.config import Deployment
from shared.errors import BackendFailed, BackendUnavailable, ContextLengthExceeded

DEPLOYMENT = Deployment(name="m", api_base="http://backend/v1", model="up", api_key_env="TEST_BACKEND_KEY")


class _Pieces(httpx.AsyncByteStream):
    """A body that arrives in arbitrary pieces, as it does off a socket."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self):
        for piece in self.pieces:
            yield piece


def _client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def _chunks(client: httpx.AsyncClient) -> list[dict]:
    return [c async for c in chatclient.chat_chunks(client, DEPLOYMENT, {"messages": [], "stream": True})]


async def test_chunks_are_parsed_across_arbitrary_splits(monkeypatch):
    monkeypatch.setenv("TEST_BACKEND_KEY", "sk-up")
    body = b'data: {"n": 1}\r\n\r\n: keep-alive\n\ndata: {"n": 2}\n\ndata: [DONE]\n\n'
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["authorization"]
        seen["url"] = str(request.url)
        return httpx.Response(200, stream=_Pieces([body[:9], body[9:23], body[23:40], body[40:]]))

    async with _client(handler) as client:
        assert await _chunks(client) == [{"n": 1}, {"n": 2}]
    assert seen == {"auth": "Bearer sk-up", "url": "http://backend/v1/chat/completions"}


async def test_an_answer_asked_for_whole_comes_as_the_chunks_that_would_have_streamed_it():
    completion = {
        "id": "c1",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    async with _client(lambda _: httpx.Response(200, json=completion)) as client:
        chunks = [
            c async for c in chatclient.chat_chunks(client, DEPLOYMENT, {"messages": [], "stream": False})
        ]
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [{"role": "assistant", "content": "Hi"}, {}]
    assert chunks[-1]["usage"] == completion["usage"]


async def test_a_backend_that_streams_when_asked_for_a_whole_answer_is_read_as_a_stream():
    body = b'data: {"n": 1}\n\ndata: [DONE]\n\n'
    sse = {"content-type": "text/event-stream; charset=utf-8"}
    async with _client(lambda _: httpx.Response(200, stream=_Pieces([body]), headers=sse)) as client:
        chunks = [
            c async for c in chatclient.chat_chunks(client, DEPLOYMENT, {"messages": [], "stream": False})
        ]
    assert chunks == [{"n": 1}]


@pytest.mark.parametrize(
    ("status", "text", "error"),
    [
        (429, '{"error": {"message": "slow down"}}', BackendUnavailable),
        (503, "overloaded", BackendUnavailable),
        (400, '{"error": {"message": "maximum context length is 8192 tokens"}}', ContextLengthExceeded),
        (401, '{"error": {"message": "bad key"}}', BackendFailed),
    ],
)
async def test_refusals_are_classified(status, text, error):
    async with _client(lambda _: httpx.Response(status, text=text)) as client:
        with pytest.raises(error) as raised:
            await _chunks(client)
    assert "sk-" not in raised.value.message


async def test_an_unreachable_backend_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(handler) as client:
        with pytest.raises(BackendUnavailable):
            await _chunks(client)


async def test_a_call_goes_through_the_transport_the_client_mounts_for_its_url():
    """As a proxy the environment names is mounted: the call must not bypass it for the default."""
    body = b'data: {"n": 1}\n\ndata: [DONE]\n\n'
    proxied = httpx.MockTransport(lambda _: httpx.Response(200, stream=_Pieces([body])))
    direct = httpx.MockTransport(lambda _: httpx.Response(502))
    async with httpx.AsyncClient(transport=direct, mounts={"http://backend": proxied}) as client:
        assert await _chunks(client) == [{"n": 1}]


async def test_each_backend_origin_gets_a_connection_pool_of_its_own():
    """One pool's connections are all looked at on each of its requests: a backend's held streams
    must not tax calls to another."""
    made: list[list[str]] = []

    def new_pool() -> httpx.AsyncBaseTransport:
        served: list[str] = []
        made.append(served)

        def handle(request: httpx.Request) -> httpx.Response:
            served.append(str(request.url))
            return httpx.Response(200, stream=_Pieces([b'data: {"n": 1}\n\n']))

        return httpx.MockTransport(handle)

    slow = DEPLOYMENT.model_copy(update={"api_base": "http://slow:8000/v1"})
    async with httpx.AsyncClient(transport=chatclient.PoolPerOrigin(new_pool)) as client:
        for deployment in (DEPLOYMENT, slow, DEPLOYMENT):
            [c async for c in chatclient.chat_chunks(client, deployment, {"messages": [], "stream": True})]
    assert made == [
        ["http://backend/v1/chat/completions", "http://backend/v1/chat/completions"],
        ["http://slow:8000/v1/chat/completions"],
    ]

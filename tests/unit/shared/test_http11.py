"""The worker's backend transport (``shared.http11``) through ``chatclient``, against a server on a
real socket: answers framed every way HTTP/1.1 frames them, connections kept and not kept, timeouts
and refusals as ``BackendUnavailable``, the pool's bound, and TLS."""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from deploy.local.processes import free_port
from shared import chatclient, http11
from shared.config import Deployment
from shared.errors import BackendUnavailable
from tests import certs

SSE = b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: [DONE]\n\n'
CHUNKS = [{"n": 1}, {"n": 2}]
BODY = {"messages": [], "stream": True}


def _sized(body: bytes, content_type: bytes = b"text/event-stream", extra: bytes = b"") -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n" % (
        content_type,
        len(body),
        extra,
    )
    return head + body


def _chunked(body: bytes) -> bytes:
    pieces = [body[:7], body[7:20], body[20:]]
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" + encoded
    )


class Backend:
    """A Chat Completions server that answers every request on a connection with ``reply``; or, with
    ``close_after``, closes the connection after its first answer without saying so (no ``Connection:
    close``), as a server ending an idle keep-alive does, sending ``farewell`` first; with ``stall``,
    never answers; with ``hold``, answers once the event is set; with ``partial``, sends ``reply`` as
    the start of a longer answer and waits for the client to close."""

    def __init__(
        self,
        reply: bytes = _sized(SSE),
        *,
        close_after: bool = False,
        farewell: bytes = b"",
        stall: bool = False,
        hold: asyncio.Event | None = None,
        partial: bool = False,
    ) -> None:
        self.reply = reply
        self.close_after = close_after
        self.farewell = farewell
        self.stall = stall
        self.hold = hold
        self.partial = partial
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(line[15:]) for line in lines if line.startswith(b"content-length:"))
                self.requests.append(head + await reader.readexactly(length))
                if self.stall:
                    await asyncio.Event().wait()
                if self.hold is not None:
                    await self.hold.wait()
                writer.write(self.reply)
                await writer.drain()
                if self.partial:
                    await reader.read()
                    break
                if self.close_after or b"connection: close" in self.reply.lower():
                    await asyncio.sleep(0.05)  # the client has taken its answer: the connection idles
                    writer.write(self.farewell)
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()


@contextlib.asynccontextmanager
async def _served(backend: Backend, tls: ssl.SSLContext | None = None) -> AsyncIterator[Deployment]:
    server = await asyncio.start_server(backend.serve, certs.HOST, 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    scheme = "https" if tls else "http"
    try:
        yield Deployment(name="m", model="up", api_base=f"{scheme}://{certs.HOST}:{port}/v1", timeout_s=0.5)
    finally:
        server.close()


async def _chunks(client: httpx.AsyncClient, deployment: Deployment, body: dict = BODY) -> list[dict]:
    return [chunk async for chunk in chatclient.chat_chunks(client, deployment, body)]


@pytest.mark.parametrize("reply", [_sized(SSE), _chunked(SSE)], ids=["content-length", "chunked"])
async def test_a_stream_is_read_and_its_connection_kept_for_the_next_call(reply: bytes):
    backend = Backend(reply)
    async with _served(backend) as deployment, chatclient.new_client() as client:
        for _ in range(3):
            assert await _chunks(client, deployment) == CHUNKS
    assert backend.connections == 1


async def test_an_answer_that_runs_to_the_connections_end_is_read_whole_and_the_connection_not_kept():
    backend = Backend(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n" + SSE
    )
    async with _served(backend) as deployment, chatclient.new_client() as client:
        for _ in range(2):
            assert await _chunks(client, deployment) == CHUNKS
    assert backend.connections == 2


async def test_a_whole_answer_is_read_as_the_chunks_that_would_have_streamed_it():
    completion = (
        b'{"id": "c1", "object": "chat.completion", "created": 1, "model": "up", "choices": [{"index": 0,'
        b' "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}'
    )
    backend = Backend(_sized(completion, b"application/json"))
    async with _served(backend) as deployment, chatclient.new_client() as client:
        chunks = await _chunks(client, deployment, {"messages": [], "stream": False})
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "hi"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "stop"]


async def test_the_request_goes_out_whole_in_one_piece_with_its_headers():
    backend = Backend()
    async with _served(backend) as deployment, chatclient.new_client() as client:
        await _chunks(client, deployment)
    [request] = backend.requests
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\ncontent-type: application/json" in head.lower()
    assert b"\r\nhost: " in head.lower()
    assert body == b'{"messages":[],"stream":true}'


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch):
    backend = Backend()
    monkeypatch.setenv("UP_KEY", "secret\r\nX-Injected: 1")
    async with _served(backend) as deployment, chatclient.new_client() as client:
        keyed = deployment.model_copy(update={"api_key_env": "UP_KEY"})
        with pytest.raises(BackendUnavailable) as failure:
            await _chunks(client, keyed)
    assert failure.value.reason == "LocalProtocolError"
    assert backend.requests == []


@pytest.mark.parametrize("farewell", [b"", b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"])
async def test_an_idle_connection_the_server_closed_is_not_reused(farewell: bytes):
    backend = Backend(close_after=True, farewell=farewell)
    async with _served(backend) as deployment, chatclient.new_client() as client:
        assert await _chunks(client, deployment) == CHUNKS
        await backend.closed.wait()
        await asyncio.sleep(0.05)  # its bytes and its end reach the client's stream
        assert await _chunks(client, deployment) == CHUNKS
    assert backend.connections == 2


async def test_an_idle_connection_past_its_expiry_is_not_reused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(http11, "IDLE_EXPIRY_S", 0.01)
    backend = Backend()
    async with _served(backend) as deployment, chatclient.new_client() as client:
        await _chunks(client, deployment)
        await asyncio.sleep(0.05)
        await _chunks(client, deployment)
    assert backend.connections == 2


async def test_a_reader_that_leaves_before_the_end_closes_the_connection():
    backend = Backend(_sized(SSE * 2)[:-20], partial=True)
    async with _served(backend) as deployment, chatclient.new_client() as client:
        chunks = chatclient.chat_chunks(client, deployment, BODY)
        assert await anext(chunks) == CHUNKS[0]
        await chunks.aclose()
        await asyncio.wait_for(backend.closed.wait(), 5)
        backend.partial = False
        backend.reply = _sized(SSE)
        assert await _chunks(client, deployment) == CHUNKS
    assert backend.connections == 2


async def test_a_backend_silent_past_its_timeout_is_unavailable():
    async with _served(Backend(stall=True)) as deployment, chatclient.new_client() as client:
        with pytest.raises(BackendUnavailable) as failure:
            await _chunks(client, deployment)
    assert failure.value.reason == "ReadTimeout"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [(_sized(SSE)[:-10], "RemoteProtocolError"), (b"SMTP ready\r\n\r\n", "RemoteProtocolError")],
    ids=["cut short", "not http"],
)
async def test_a_broken_answer_is_unavailable(reply: bytes, reason: str):
    backend = Backend(reply, close_after=True)
    async with _served(backend) as deployment, chatclient.new_client() as client:
        with pytest.raises(BackendUnavailable) as failure:
            await _chunks(client, deployment)
    assert failure.value.reason == reason


async def test_a_refused_connection_is_unavailable():
    deployment = Deployment(name="m", model="up", api_base=f"http://{certs.HOST}:{free_port()}/v1")
    async with chatclient.new_client() as client:
        with pytest.raises(BackendUnavailable) as failure:
            await _chunks(client, deployment)
    assert failure.value.reason == "ConnectError"


async def test_calls_past_the_pools_bound_wait_for_a_connection_to_come_free(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(http11, "MAX_CONNECTIONS", 2)
    hold = asyncio.Event()
    backend = Backend(hold=hold)
    async with _served(backend) as deployment, chatclient.new_client() as client:
        calls = [asyncio.create_task(_chunks(client, deployment)) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert (backend.connections, len(backend.requests)) == (2, 2)
        hold.set()
        assert await asyncio.gather(*calls) == [CHUNKS] * 3
    assert backend.connections == 2


async def test_a_backend_over_tls_is_read_and_an_untrusted_one_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    authority = certs.Authority.new(tmp_path)
    cert, key = authority.sign(tmp_path / "backend", "backend")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    async with _served(Backend(), tls) as deployment:
        async with chatclient.new_client() as client:  # trusts the system's authorities only
            with pytest.raises(BackendUnavailable) as failure:
                await _chunks(client, deployment)
        assert failure.value.reason == "ConnectError"
        monkeypatch.setenv("SSL_CERT_FILE", str(authority.pem))  # how an operator adds a private CA
        async with chatclient.new_client() as client:
            assert await _chunks(client, deployment) == CHUNKS

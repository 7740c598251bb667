"""The worker's backend client on asyncio's own streams (``shared.netstreams``), against a server on
a real socket: a stream read and its connection kept, a connection the server closed not reused,
timeouts and refusals as ``BackendUnavailable``, and TLS."""

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploy.local.processes import free_port
from shared import chatclient, netstreams
from shared.config import Deployment
from shared.errors import BackendUnavailable
from tests import certs

SSE = b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: [DONE]\n\n'
REPLY = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(SSE) + SSE
BODY = {"messages": [], "stream": True}


class Backend:
    """A Chat Completions server that answers every request on a connection with ``SSE``; or, with
    ``close_after``, closes the connection after its first answer without saying so (no ``Connection:
    close``), as a server ending an idle keep-alive does, sending ``farewell`` first; or, with
    ``stall``, never answers."""

    def __init__(self, *, close_after: bool = False, farewell: bytes = b"", stall: bool = False) -> None:
        self.close_after = close_after
        self.farewell = farewell
        self.stall = stall
        self.connections = 0
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(line[15:]) for line in lines if line.startswith(b"content-length:"))
                await reader.readexactly(length)
                if self.stall:
                    await asyncio.Event().wait()
                writer.write(REPLY)
                await writer.drain()
                if self.close_after:
                    await asyncio.sleep(0.05)  # the client has taken its answer: the connection idles
                    writer.write(self.farewell)
                    break
        except asyncio.IncompleteReadError:
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


async def _chunks(client, deployment: Deployment) -> list[dict]:
    return [chunk async for chunk in chatclient.chat_chunks(client, deployment, BODY)]


async def test_a_stream_is_read_on_asyncio_streams_and_its_connection_kept_for_the_next_call():
    backend = Backend()
    async with _served(backend) as deployment, chatclient.new_client() as client:
        for _ in range(3):
            assert await _chunks(client, deployment) == [{"n": 1}, {"n": 2}]
        pool = client._transport_for_url(client.build_request("GET", deployment.api_base).url)
        [origin_pool] = pool._pools.values()
        assert isinstance(origin_pool._pool._network_backend, netstreams.AsyncioBackend)
    assert backend.connections == 1


@pytest.mark.parametrize("farewell", [b"", b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"])
async def test_an_idle_connection_the_server_closed_is_not_reused(farewell: bytes):
    backend = Backend(close_after=True, farewell=farewell)
    async with _served(backend) as deployment, chatclient.new_client() as client:
        assert await _chunks(client, deployment) == [{"n": 1}, {"n": 2}]
        await backend.closed.wait()
        await asyncio.sleep(0.05)  # its bytes and its end reach the client's stream
        assert await _chunks(client, deployment) == [{"n": 1}, {"n": 2}]
    assert backend.connections == 2


async def test_a_backend_silent_past_its_timeout_is_unavailable():
    async with _served(Backend(stall=True)) as deployment, chatclient.new_client() as client:
        with pytest.raises(BackendUnavailable) as failure:
            await _chunks(client, deployment)
    assert failure.value.reason == "ReadTimeout"


async def test_a_refused_connection_is_unavailable():
    deployment = Deployment(name="m", model="up", api_base=f"http://{certs.HOST}:{free_port()}/v1")
    async with chatclient.new_client() as client:
        with pytest.raises(BackendUnavailable) as failure:
            await _chunks(client, deployment)
    assert failure.value.reason == "ConnectError"


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
            assert await _chunks(client, deployment) == [{"n": 1}, {"n": 2}]


class _Recording:
    """A stream writer that records each send it is asked for."""

    def __init__(self) -> None:
        self.sends: list[list[bytes]] = []

    def write(self, data: bytes) -> None:
        self.sends.append([data])

    def writelines(self, data: list[bytes]) -> None:
        self.sends.append(list(data))

    async def drain(self) -> None:
        pass


def _stream(answer: bytes = b"") -> tuple[netstreams.AsyncioStream, _Recording]:
    reader = asyncio.StreamReader()
    reader.feed_data(answer)
    writer = _Recording()
    return netstreams.AsyncioStream(reader, writer), writer  # type: ignore[arg-type]


async def test_a_requests_head_and_body_go_out_in_one_send_before_its_answer_is_read():
    stream, writer = _stream(b"HTTP/1.1 200 OK\r\n")
    await stream.write(b"POST /v1/chat/completions HTTP/1.1\r\n\r\n", timeout=1)
    await stream.write(b'{"messages": []}', timeout=1)
    assert writer.sends == []

    assert await stream.read(1024, timeout=1) == b"HTTP/1.1 200 OK\r\n"
    assert writer.sends == [[b"POST /v1/chat/completions HTTP/1.1\r\n\r\n", b'{"messages": []}']]


async def test_a_large_body_is_sent_as_it_comes_without_waiting_for_the_read():
    stream, writer = _stream()
    await stream.write(b"head", timeout=1)
    await stream.write(b"x" * netstreams._HELD_BYTES, timeout=1)
    assert writer.sends == [[b"head", b"x" * netstreams._HELD_BYTES]]

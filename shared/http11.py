"""An httpx transport of the worker's own for one backend origin: HTTP/1.1 keep-alive connections on
asyncio's streams, answers parsed by httptools (llhttp, in C).

httpx's own transport sends through httpcore, whose pool, locks (anyio's) and h11 parser cost the
worker about four times this one's CPU a call against the bench's mock, and more the more calls are
in flight (bench/README.md, fourteenth pass). A backend call needs little of what they offer: one
request at a time on a connection, a body of bytes, an answer read as it streams. So this transport:
- keeps idle connections last in, first out, and never reuses one whose server closed it, broke it
  or said something unasked (a ``408`` before it closes), as its stream reader already knows, nor
  one idle past ``IDLE_EXPIRY_S`` (httpx's is 5 s);
- sends a request's head and body in one system call;
- has at most ``MAX_CONNECTIONS`` requests on its connections at once, one past them waiting up to
  its pool timeout;
- raises httpx's own errors (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``, ...), so a
  caller sees what httpx's transport would raise.
TLS verifies as httpx does (``httpx.create_ssl_context``: certifi, or ``SSL_CERT_FILE``). No HTTP/2,
no proxies (an ``httpx.AsyncClient`` given a transport uses none either), no ``HEAD``.
"""

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator

import httptools
import httpx

MAX_CONNECTIONS = 1000
MAX_IDLE = 200
# Under the 5 s after which the servers backends run on close an idle connection (uvicorn's, so vLLM's
# and SGLang's; llama.cpp's): a request sent on one just as its server closes it would fail.
IDLE_EXPIRY_S = 4.0
_READ_SIZE = 64 * 1024


class _Connection:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        # Readable while idle means the server closed it, broke it, or said something unasked: the
        # reader has it already. Its buffer has no public name; it has had this one since asyncio began.
        reader = self.reader
        return not (
            now - self.idle_since > IDLE_EXPIRY_S
            or reader.at_eof()
            or reader.exception() is not None
            or reader._buffer
            or self.writer.is_closing()
        )

    async def read(self, timeout: float | None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(_READ_SIZE)
        except TimeoutError as error:
            raise httpx.ReadTimeout("the backend sent nothing within the read timeout") from error
        except OSError as error:
            raise httpx.ReadError(str(error) or type(error).__name__) from error

    async def send(self, parts: list[bytes], timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                self.writer.writelines(parts)
                await self.writer.drain()
        except TimeoutError as error:
            raise httpx.WriteTimeout("the request was not sent within the write timeout") from error
        except OSError as error:
            raise httpx.WriteError(str(error) or type(error).__name__) from error

    def close(self) -> None:
        # The transport closes the socket once what it buffered is sent; nothing to wait for.
        self.writer.close()


class _Answer:
    """httptools' callbacks: the head as it is parsed, then the body's pieces until the end."""

    __slots__ = ("done", "framed", "head_done", "headers", "keep_alive", "parser", "pieces", "reason")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.framed = False  # a length or chunks: the body ends by itself, not with the connection
        self.pieces: list[bytes] = []
        self.done = False
        self.keep_alive = False

    def feed(self, data: bytes) -> None:
        if not data:
            if self.head_done and not self.framed:
                self.done = True  # a body that runs to the connection's end
                return
            raise httpx.RemoteProtocolError("the backend closed the connection before its answer ended")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            raise httpx.RemoteProtocolError(f"the backend's answer is not HTTP/1.1: {error}") from error

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.head_done = True
        # An answer that cannot have a body is framed by its status.
        self.framed = self.framed or self.parser.get_status_code() in (204, 304)

    def on_body(self, piece: bytes) -> None:
        self.pieces.append(piece)

    def on_message_complete(self) -> None:
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()


class Pool(httpx.AsyncBaseTransport):
    """The connections to one origin (scheme, host, port): ``chatclient.PoolPerOrigin`` makes one a
    backend."""

    def __init__(self) -> None:
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._tls: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        parts = [_head(request), await request.aread()]
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError as error:
            raise httpx.PoolTimeout("no backend connection came free within the pool timeout") from error
        connection: _Connection | None = None
        try:
            connection = self._reused() or await self._connect(request.url, timeouts.get("connect"))
            await connection.send(parts, timeouts.get("write"))
            answer = _Answer()
            while not answer.head_done:
                answer.feed(await connection.read(timeouts.get("read")))
        except BaseException:
            if connection is not None:
                connection.close()
            self._slots.release()
            raise
        body = _Body(self, connection, answer, timeouts.get("read"))
        return httpx.Response(
            answer.parser.get_status_code(),
            headers=answer.headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
        )

    def _reused(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    async def _connect(self, url: httpx.URL, timeout: float | None) -> _Connection:
        tls = None
        if url.scheme == "https":
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            tls = self._tls
        port = url.port or (443 if tls else 80)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(url.host, port, ssl=tls)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(f"no connection to {url.host}:{port} within the timeout") from error
        except (OSError, ssl.SSLError) as error:
            raise httpx.ConnectError(str(error) or type(error).__name__) from error
        # A stream of small chunks is latency-bound: no Nagle.
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    def _release(self, connection: _Connection, reusable: bool) -> None:
        self._slots.release()
        if reusable and len(self._idle) < MAX_IDLE:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _Body(httpx.AsyncByteStream):
    """An answer's body as it arrives; its connection goes back to the pool once the body is read to
    its end, and is closed if the reader leaves before."""

    def __init__(self, pool: Pool, connection: _Connection, answer: _Answer, timeout: float | None) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._answer = answer
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        answer = self._answer
        while self._connection is not None:
            if answer.pieces:
                pieces, answer.pieces = answer.pieces, []
                for piece in pieces:
                    yield piece
            if answer.done:
                self._give_back()
                return
            answer.feed(await self._connection.read(self._timeout))

    def _give_back(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool._release(connection, self._answer.done and self._answer.keep_alive)

    async def aclose(self) -> None:
        self._give_back()


def _head(request: httpx.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    for name, value in request.headers.raw:
        if any(c in name or c in value for c in (b"\r", b"\n")):
            raise httpx.LocalProtocolError(f"header {name.decode(errors='replace')!r} holds a line break")
        lines.append(b"%s: %s" % (name, value))
    lines += [b"", b""]
    return b"\r\n".join(lines)

"""A lean HTTP/1.1 client for the load generator: one keep-alive connection, one request at a time.

httpx costs a few hundred microseconds of CPU per request, and on a 2-core machine the generator's CPU
is taken from the system under test; this client parses only what the bench needs (status, body
framing, the first-token marker) and costs a fraction of that. Its floor shows in the "direct" rows.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

_HEAD_END = b"\r\n\r\n"


class ExchangeFailed(Exception):
    """The connection broke before a whole response arrived."""


@dataclass(frozen=True)
class Exchange:
    """One request and its response, timed with ``time.perf_counter``."""

    status: int
    body: bytes
    sent_at: float
    first_at: float | None  # when the first-token marker arrived, if one was given and seen
    done_at: float

    @property
    def latency(self) -> float:
        return self.done_at - self.sent_at

    @property
    def ttft(self) -> float | None:
        return None if self.first_at is None else self.first_at - self.sent_at


class _ResponseParser:
    """Incremental parser of one response: Content-Length, chunked, or read-until-close bodies."""

    def __init__(self, marker: bytes | None, on_first: Callable[[], None] | None) -> None:
        self._marker = marker
        self._on_first = on_first
        self._buffer = bytearray()
        self._state = "head"
        self._remaining = 0
        self.status = 0
        self.body = bytearray()
        self.first_at: float | None = None
        self.done = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while not self.done and self._step():
            pass

    def close(self) -> None:
        """The peer closed the connection: that ends a body framed by the close, and nothing else."""
        if self._state == "until_close":
            self._take(bytes(self._buffer))
            self.done = True

    def _step(self) -> bool:
        """Advance by one unit; False when more bytes are needed."""
        buffer = self._buffer
        if self._state == "head":
            end = buffer.find(_HEAD_END)
            if end < 0:
                return False
            self._read_head(bytes(buffer[:end]))
            del buffer[: end + 4]
        elif self._state == "length":
            if len(buffer) < self._remaining:
                return False
            self._take(bytes(buffer[: self._remaining]))
            del buffer[: self._remaining]
            self.done = True
        elif self._state == "chunk_size":
            end = buffer.find(b"\r\n")
            if end < 0:
                return False
            self._remaining = int(bytes(buffer[:end]).split(b";")[0], 16)
            del buffer[: end + 2]
            self._state = "chunk_data" if self._remaining else "trailer"
        elif self._state == "chunk_data":
            if len(buffer) < self._remaining + 2:
                return False
            self._take(bytes(buffer[: self._remaining]))
            del buffer[: self._remaining + 2]
            self._state = "chunk_size"
        elif self._state == "trailer":
            end = buffer.find(b"\r\n")
            if end < 0:
                return False
            del buffer[: end + 2]
            self.done = end == 0
        else:  # until_close
            return False
        return True

    def _read_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            self._state = "chunk_size"
        elif b"content-length" in headers:
            self._remaining = int(headers[b"content-length"])
            self._state = "length"
            if self._remaining == 0:
                self.done = True
        else:
            self._state = "until_close"

    def _take(self, data: bytes) -> None:
        if self.first_at is None and self._marker is not None:
            window = bytes(self.body[-len(self._marker) :]) + data
            if self._marker in window:
                self.first_at = time.perf_counter()
                if self._on_first is not None:
                    self._on_first()
        self.body += data


class Connection(asyncio.Protocol):
    """A keep-alive connection to ``host:port``; ``post`` waits for the whole response."""

    def __init__(self, host: str, port: int, api_key: str | None = None) -> None:
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
        self._headers = f"Host: {host}:{port}\r\n{auth}".encode()
        self._transport: asyncio.Transport | None = None
        self._parser: _ResponseParser | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int, api_key: str | None = None) -> "Connection":
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: cls(host, port, api_key), host, port)
        return connection

    async def post(
        self,
        path: str,
        body: bytes,
        marker: bytes | None = None,
        on_first: Callable[[], None] | None = None,
    ) -> Exchange:
        """Send one JSON POST; ``marker`` timestamps (and ``on_first`` signals) the first body bytes
        that contain it."""
        if self._transport is None or self.closed:
            raise ExchangeFailed("connection is closed")
        parser = self._parser = _ResponseParser(marker, on_first)
        self._waiter = asyncio.get_running_loop().create_future()
        head = b"POST %s HTTP/1.1\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
            path.encode(),
            self._headers,
            len(body),
        )
        sent_at = time.perf_counter()
        self._transport.write(head + body)
        await self._waiter
        return Exchange(parser.status, bytes(parser.body), sent_at, parser.first_at, time.perf_counter())

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            return
        self._parser.feed(data)
        if self._parser.done:
            self._resolve(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is None:
            return
        self._parser.close()
        self._resolve(None if self._parser.done else ExchangeFailed(f"connection lost mid-response ({exc})"))

    def _resolve(self, error: Exception | None) -> None:
        waiter, self._waiter, self._parser = self._waiter, None, None
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)

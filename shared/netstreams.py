"""httpcore's network layer on asyncio's own streams, for the worker's backend client.

httpcore's default (its anyio backend) asks the socket of every idle connection in the pool, by a
``poll`` system call, whether its server closed it, before each request: a worker keeps about a
connection for each call in flight, so at 16 in flight a call pays 16 polls, and a read or a write
goes through an anyio cancel scope. Here a closed idle connection is known by what its stream reader
was told (the end of the stream, or the error that broke it), without asking the socket, and a read
or a write carries an ``asyncio.timeout``. ``python -m bench.backend_call`` measures both backends.

What httpcore writes is held until it reads (or until it holds ``_HELD_BYTES``): a request's head
and body, which it writes one after the other, then reach the server in one system call and one
segment, and wake it once (bench/README.md, tenth pass). That relies on HTTP/1.1, where a connection
reads the answer to what it wrote; over HTTP/2 (not enabled) a request could wait on another's read.
"""

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

_SocketOption = tuple[int, int, int | bytes] | tuple[int, int, None, int]
# Past this, what is held is sent without waiting for the read: a large body streams as it comes.
_HELD_BYTES = 64 * 1024


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._held_timeout: float | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._send_held()
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as error:
            raise httpcore.ReadTimeout(error) from error
        except OSError as error:
            raise httpcore.ReadError(error) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._held.append(buffer)
        self._held_bytes += len(buffer)
        self._held_timeout = timeout
        if self._held_bytes >= _HELD_BYTES:
            await self._send_held()

    async def _send_held(self) -> None:
        if not self._held:
            return
        held, self._held, self._held_bytes = self._held, [], 0
        try:
            async with asyncio.timeout(self._held_timeout):
                self._writer.writelines(held)
                await self._writer.drain()
        except TimeoutError as error:
            raise httpcore.WriteTimeout(error) from error
        except OSError as error:
            raise httpcore.WriteError(error) from error

    async def aclose(self) -> None:
        # The transport closes the socket once what it buffered is sent; nothing to wait for.
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as error:
            self._writer.close()
            raise httpcore.ConnectTimeout(error) from error
        except (OSError, ssl.SSLError) as error:
            self._writer.close()
            raise httpcore.ConnectError(error) from error
        return self

    def get_extra_info(self, info: str) -> Any:
        match info:
            case "is_readable":
                # Asked of idle connections only: readable there means the server closed it, broke it,
                # or said something unasked (a 408 before it closes): the reader has it already. Its
                # buffer has no public name; it has had this one since asyncio began.
                reader = self._reader
                return reader.at_eof() or reader.exception() is not None or bool(reader._buffer)
            case "ssl_object":
                return self._writer.get_extra_info("ssl_object")
            case "socket":
                return self._writer.get_extra_info("socket")
            case "client_addr":
                return self._writer.get_extra_info("sockname")
            case "server_addr":
                return self._writer.get_extra_info("peername")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(error) from error
        except OSError as error:
            raise httpcore.ConnectError(error) from error
        sock: socket.socket = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

"""Server-sent event frames, and the response that writes them with comments that keep a quiet stream
open, driven through its ASGI interface as uvicorn drives it."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.api import sse


def test_a_frame_names_its_event_as_openai_does():
    assert sse.frame({"type": "response.created", "n": 1}) == (
        b'event: response.created\ndata: {"type":"response.created","n":1}\n\n'
    )


class Client:
    """The ASGI side of one connection: what was sent, and a disconnect to be had at will."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.started = False
        self.ended = False
        self._gone = asyncio.Event()

    async def receive(self) -> dict:
        await self._gone.wait()  # the request's body was read by the route already
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        elif message["more_body"]:
            self.sent.append(message["body"])
        else:
            self.ended = True

    def leave(self) -> None:
        self._gone.set()


async def _slow(*pauses: float) -> AsyncIterator[bytes]:
    for n, pause in enumerate(pauses):
        await asyncio.sleep(pause)
        yield f"chunk {n}".encode()


async def _serve(chunks: AsyncIterator[bytes], keepalive_s: float, client: Client | None = None) -> Client:
    client = client or Client()
    await sse.EventStream(chunks, keepalive_s=keepalive_s)({"type": "http"}, client.receive, client.send)
    return client


async def test_a_quiet_stream_gets_comments_until_its_next_chunk():
    client = await _serve(_slow(0, 0.35, 0), keepalive_s=0.1)
    got = client.sent
    comments = [n for n, chunk in enumerate(got) if chunk == sse.KEEPALIVE]
    assert got[0] == b"chunk 0" and len(comments) >= 2
    assert comments == list(range(1, comments[-1] + 1))  # all in the pause, none after it
    assert got[comments[-1] + 1 :] == [b"chunk 1", b"chunk 2"]
    assert client.started and client.ended


async def test_a_busy_stream_gets_none():
    client = await _serve(_slow(0, 0, 0), keepalive_s=5)
    assert client.sent == [b"chunk 0", b"chunk 1", b"chunk 2"] and client.ended


async def test_a_failure_of_the_chunks_reaches_the_server_after_what_came_before_it():
    async def failing() -> AsyncIterator[bytes]:
        yield b"chunk 0"
        raise RuntimeError("the watch broke")

    client = Client()
    with pytest.raises(RuntimeError, match="the watch broke"):
        await _serve(failing(), keepalive_s=5, client=client)
    assert client.sent == [b"chunk 0"] and not client.ended


async def test_a_client_that_leaves_closes_the_chunks_and_ends_the_response_quietly():
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"chunk"
                await asyncio.sleep(3600)  # a model thinking: nothing to write, nothing to notice
        finally:
            closed.set()  # where the live stream unsubscribes from its response

    client = Client()
    serving = asyncio.create_task(_serve(endless(), keepalive_s=5, client=client))
    await asyncio.sleep(0.05)
    client.leave()
    await asyncio.wait_for(serving, 5)  # no error: leaving is not a failure
    assert closed.is_set() and client.sent == [b"chunk"] and not client.ended


async def test_a_server_that_stops_cancels_the_response_and_closes_the_chunks():
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            yield b"chunk"
            await asyncio.sleep(3600)
        finally:
            closed.set()

    serving = asyncio.create_task(_serve(endless(), keepalive_s=5))
    await asyncio.sleep(0.05)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert closed.is_set()

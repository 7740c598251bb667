"""Server-sent event frames, and the comments that keep a quiet stream open."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.api import sse


def test_a_frame_names_its_event_as_openai_does():
    assert sse.frame({"type": "response.created", "n": 1}) == (
        b'event: response.created\ndata: {"type":"response.created","n":1}\n\n'
    )


async def _slow(*pauses: float) -> AsyncIterator[bytes]:
    for n, pause in enumerate(pauses):
        await asyncio.sleep(pause)
        yield f"frame {n}".encode()


async def _all(frames: AsyncIterator[bytes]) -> list[bytes]:
    return [frame async for frame in frames]


async def test_a_quiet_stream_gets_comments_until_its_next_frame():
    got = await _all(sse.kept_alive(_slow(0, 0.35, 0), every_s=0.1))
    comments = [n for n, frame in enumerate(got) if frame == sse.KEEPALIVE]
    assert got[0] == b"frame 0" and len(comments) >= 2
    assert comments == list(range(1, comments[-1] + 1))  # all in the pause, none after it
    assert b"".join(got[comments[-1] + 1 :]) == b"frame 1frame 2"


async def test_a_busy_stream_gets_none():
    got = await _all(sse.kept_alive(_slow(0, 0, 0), every_s=5))
    assert b"".join(got) == b"frame 0frame 1frame 2" and sse.KEEPALIVE not in got


async def test_frames_ready_together_are_one_write_in_order():
    async def together() -> AsyncIterator[bytes]:  # the events of one message of deltas
        for n in range(3):
            yield f"frame {n}".encode()

    assert await _all(sse.kept_alive(together(), every_s=5)) == [b"frame 0frame 1frame 2"]


async def test_frames_ready_before_a_failure_are_written_before_it_is_raised():
    written: list[bytes] = []

    async def failing() -> AsyncIterator[bytes]:
        yield b"frame 0"
        yield b"frame 1"
        raise RuntimeError("the watch broke")

    with pytest.raises(RuntimeError, match="the watch broke"):
        async for frame in sse.kept_alive(failing(), every_s=5):
            written.append(frame)
    assert written == [b"frame 0frame 1"]


async def test_a_failure_of_the_frames_reaches_the_reader():
    async def failing() -> AsyncIterator[bytes]:
        yield b"frame 0"
        raise RuntimeError("the watch broke")

    with pytest.raises(RuntimeError, match="the watch broke"):
        await _all(sse.kept_alive(failing(), every_s=5))


async def test_a_client_that_leaves_closes_the_frames():
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"frame"
                await asyncio.sleep(0.01)
        finally:
            closed.set()  # where the live stream unsubscribes from its response

    frames = sse.kept_alive(endless(), every_s=5)
    assert await anext(frames) == b"frame"
    await frames.aclose()
    await asyncio.wait_for(closed.wait(), 5)

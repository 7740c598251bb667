"""Server-sent events as OpenAI writes them: the ``event:`` line repeats the payload's ``type``; and
comments that keep a quiet stream open."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

# A comment line: every SSE parser skips it (the openai SDKs, the Vercel AI SDK, Codex, browsers).
KEEPALIVE = b": keep-alive\n\n"
_END = object()
# Frames in hand at most: a client that stops reading still stops the reading of its events (NATS then
# holds them, up to the watch's buffer).
_IN_HAND = 64


def frame(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


async def kept_alive(frames: AsyncIterator[bytes], *, every_s: float) -> AsyncIterator[bytes]:
    """``frames``, with a comment whenever ``every_s`` pass without one. A long prefill or a slow tool
    sends nothing for minutes, and proxies and clients with idle timeouts drop such a stream. Frames
    that are ready together (the events of one message of deltas) go out as one write."""
    pending: asyncio.Queue[object] = asyncio.Queue(maxsize=_IN_HAND)

    async def pump() -> None:
        try:
            async for item in frames:
                await pending.put(item)
        except Exception as error:  # raised to the reader below, where the response can fail
            await pending.put(error)
        await pending.put(_END)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(pending.get(), timeout=every_s)
            except TimeoutError:
                yield KEEPALIVE
                continue
            ready, item = _joined(item, pending)
            if ready:
                yield ready
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _joined(first: object, pending: "asyncio.Queue[object]") -> tuple[bytes, object | None]:
    """``first`` and the frames queued behind it, as one write; and the end or the error that came
    right behind them, if one did."""
    frames: list[bytes] = []
    item: object | None = first
    while isinstance(item, bytes):
        frames.append(item)
        item = None if pending.empty() else pending.get_nowait()
    return b"".join(frames), item

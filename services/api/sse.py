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


def frame(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


async def kept_alive(frames: AsyncIterator[bytes], *, every_s: float) -> AsyncIterator[bytes]:
    """``frames``, with a comment whenever ``every_s`` pass without one. A long prefill or a slow tool
    sends nothing for minutes, and proxies and clients with idle timeouts drop such a stream."""
    # One frame in hand at most: a client that stops reading still stops the reading of its events.
    pending: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

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
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""Server-sent events as OpenAI writes them: the ``event:`` line repeats the payload's ``type``; and
the response that writes them, with comments that keep a quiet stream open."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

# A comment line: every SSE parser skips it (the openai SDKs, the Vercel AI SDK, Codex, browsers).
KEEPALIVE = b": keep-alive\n\n"


def frame(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


class EventStream(Response):
    """A ``text/event-stream`` of ``chunks``, each sent as one write (a chunk may hold several
    frames: the events of one message of deltas), with a comment whenever ``keepalive_s`` pass
    without one: a long prefill or a slow tool sends nothing for minutes, and proxies and clients
    with idle timeouts drop such a stream.

    The request's own task writes the chunks; one companion task writes the comments and, should the
    client leave, stops the writing, which closes ``chunks`` (where a stream unsubscribes from its
    response). Starlette's ``StreamingResponse`` takes a task group of two tasks for the second job
    alone (uvicorn declares ASGI 2.3, so a send to a gone client is silently dropped), and the
    comments took two more: at a thousand open streams they weighed a tenth of all the memory the
    streams held (bench/README.md)."""

    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[bytes], *, keepalive_s: float) -> None:
        self.chunks = chunks
        self.keepalive_s = keepalive_s
        self.status_code = 200
        self.background = None
        self.init_headers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        writer = asyncio.current_task()
        assert writer is not None
        last_write = loop.time()
        left = False

        async def accompany() -> None:
            nonlocal last_write, left
            while True:
                try:
                    async with asyncio.timeout_at(last_write + self.keepalive_s):
                        message = await receive()
                except TimeoutError:
                    last_write = loop.time()
                    await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                    continue
                if message["type"] == "http.disconnect":
                    left = True
                    writer.cancel()
                    return

        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        companion = asyncio.create_task(accompany())
        try:
            async with contextlib.aclosing(self.chunks):
                async for chunk in self.chunks:
                    last_write = loop.time()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except asyncio.CancelledError:
            # The client left: not a failure. A cancel of the server's own (shutdown) goes on up.
            if not left or writer.uncancel() > 0:
                raise
            return
        finally:
            companion.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await companion
        await send({"type": "http.response.body", "body": b"", "more_body": False})

"""A fast Chat Completions backend for the bench: raw asyncio HTTP/1.1, keep-alive, a fixed reply.

Every ``POST .../chat/completions`` gets the same ``tokens`` tokens; streamed, one SSE chunk per token
after ``delay_s``, then a finish chunk, a usage chunk when ``stream_options.include_usage`` asks for
it, and ``[DONE]``; not streamed, the whole completion once every token's ``delay_s`` has passed (a
model takes as long to answer either way). Replies are prebuilt bytes, so the backend's own cost is
close to the socket's: whatever latency the bench adds on top of "direct" belongs to the gateway in
front of it.

Run: ``python -m bench.mock_backend --port 9000 --tokens 16 --delay-ms 0``.
"""

import argparse
import asyncio
import json
from dataclasses import dataclass
from typing import Any

TOKEN = "tok "  # the load generator spots the first content chunk by this text
_CREATED = 1_700_000_000
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class Replies:
    """The prebuilt wire bytes of every answer the backend gives."""

    completion: bytes  # whole HTTP response to a non-stream call
    stream_head: bytes  # status line, headers and the role chunk of a streamed call
    token_frame: bytes  # one content chunk, already framed for chunked transfer-encoding
    finish_frame: bytes  # the chunk carrying finish_reason
    usage_frame: bytes  # the usage chunk, sent after the finish chunk only when asked for
    done_frame: bytes  # [DONE] and the terminating zero-length frame
    not_found: bytes
    ok: bytes


def build_replies(tokens: int, model: str = "bench-mock") -> Replies:
    """Pure: the bytes of every reply for ``tokens`` tokens of output."""
    usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
    completion = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": _CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TOKEN * tokens},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "choices": choices,
            **extra,
        }
        return _frame(b"data: " + _dumps(body) + b"\n\n")

    def delta(content: dict[str, str], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "finish_reason": finish}]

    return Replies(
        completion=_response(b"200 OK", b"application/json", _dumps(completion)),
        stream_head=(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunk(delta({"role": "assistant", "content": ""}))
        ),
        token_frame=chunk(delta({"content": TOKEN})),
        finish_frame=chunk(delta({}, "stop")),
        usage_frame=chunk([], usage=usage),
        done_frame=_frame(b"data: [DONE]\n\n") + b"0\r\n\r\n",
        not_found=_response(b"404 Not Found", b"application/json", b'{"error":{"message":"not found"}}'),
        ok=_response(b"200 OK", b"application/json", b'{"object":"list","data":[]}'),
    )


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        status,
        content_type,
        len(body),
    )
    return head + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Connection(asyncio.Protocol):
    """One client connection; requests on it are answered in order."""

    def __init__(self, replies: Replies, delay_s: float, tokens: int) -> None:
        self._replies = replies
        self._delay_s = delay_s
        self._tokens = tokens
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._streaming: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._streaming is not None:
            self._streaming.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._serve()

    def _serve(self) -> None:
        while self._streaming is None and self._transport is not None:
            end = self._buffer.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(self._buffer[:end])
            size = _content_length(head)
            if len(self._buffer) < end + 4 + size:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + size])
            del self._buffer[: end + 4 + size]
            self._answer(head.split(b" ", 2), body)

    def _answer(self, request_line: list[bytes], body: bytes) -> None:
        assert self._transport is not None
        method, path = request_line[0], request_line[1] if len(request_line) > 1 else b""
        if method != b"POST" or not path.endswith(b"/chat/completions"):
            self._transport.write(self._replies.ok if method == b"GET" else self._replies.not_found)
            return
        request = json.loads(body or b"{}")
        if not request.get("stream"):
            if self._delay_s <= 0:
                self._transport.write(self._replies.completion)
                return
            self._streaming = asyncio.get_running_loop().create_task(self._complete_slowly())
            return
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        if self._delay_s <= 0:
            self._transport.write(self._stream_bytes(usage))
            return
        self._streaming = asyncio.get_running_loop().create_task(self._stream_slowly(usage))

    def _stream_bytes(self, usage: bool) -> bytes:
        return self._replies.stream_head + self._replies.token_frame * self._tokens + self._tail(usage)

    def _tail(self, usage: bool) -> bytes:
        replies = self._replies
        return replies.finish_frame + (replies.usage_frame if usage else b"") + replies.done_frame

    async def _stream_slowly(self, usage: bool) -> None:
        replies = self._replies
        try:
            self._write(replies.stream_head)
            for _ in range(self._tokens):
                await asyncio.sleep(self._delay_s)
                self._write(replies.token_frame)
            self._write(self._tail(usage))
        finally:
            self._streaming = None
        self._serve()

    async def _complete_slowly(self) -> None:
        try:
            await asyncio.sleep(self._delay_s * self._tokens)
            self._write(self._replies.completion)
        finally:
            self._streaming = None
        self._serve()

    def _write(self, data: bytes) -> None:
        if self._transport is None:
            raise asyncio.CancelledError
        self._transport.write(data)


async def serve(host: str, port: int, tokens: int, delay_s: float) -> None:
    replies = build_replies(tokens)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(replies, delay_s, tokens), host, port, backlog=4096, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=16, help="output tokens per reply")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="wait before each streamed token")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.tokens, args.delay_ms / 1000))


if __name__ == "__main__":
    main()

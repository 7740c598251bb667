"""A scriptable OpenAI-compatible Chat Completions server, standing in for the LLM in dev, tests and bench.

Each ``POST /v1/chat/completions`` answers with the next scripted reply, or by default echoes the last
user message as ``"echo: <text>"``; offered a ``web_search`` function (the gateway's built-in web
search), it first calls it with that text, then echoes it citing the results. A scripted reply is a
JSON object; every field is optional::

    content        str | null    assistant text, streamed in pieces of ``chunk_chars``
    reasoning      str | null    sent as ``delta.reasoning_content`` before the content
    tool_calls     [{id, name, arguments}]   streamed as ``delta.tool_calls``, arguments in 2+ pieces
    finish_reason  "stop" | "length" | "tool_calls" | "content_filter"
    refusal        str | null    sent as ``delta.refusal``
    usage          {...} | null  default: rough word counts
    status         int           not 200: answer that status with ``{"error": error}``
    error          {...}         the error object for ``status``
    chunk_chars    int           content piece size (default 4)
    delay_s        float         sleep between chunks (non-stream: once before answering)
    wait_s         float         sleep before answering at all, status line included (a stalled backend)
    logprobs       bool          attach token logprobs to the content (with the request's
                                 ``top_logprobs`` alternatives per token)
    abort_after    int           stream only: drop the connection after this many chunks
    service_tier   str | null    the tier the answer reports (default: the request's, as OpenAI does)
    cite_results   bool          answer from the last tool message's web results (a model that read
                                 them): ``content`` then a Markdown link to each result's URL

The same server is a SearXNG stand-in for web search (``deploy/local/mock_search.py``: ``GET /search``).

``POST /tokenize`` answers like vLLM's: ``{"count"}`` for ``{"model", "messages"}``, counting words as
the default usage does.

Control endpoints: ``POST /_mock/script {"replies": [...]}`` queues replies, ``GET /_mock/requests``
lists what arrived (path, body and headers), ``POST /_mock/reset`` clears both. Headers, the backend key among
them, appear only there: the server logs no requests.
"""

import argparse
import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from deploy.local import mock_search

Reply = dict[str, Any]
Chunk = dict[str, Any]

MAX_RECORDS = 10_000
# The function the gateway offers for its built-in web search (shared/domain/builtin_tools.py).
_WEB_SEARCH = "web_search"
_ARGUMENT_PIECES = 2


def default_reply(body: dict) -> Reply:
    messages = body.get("messages") or []
    echo = f"echo: {last_user_text(messages)}"
    if messages and messages[-1].get("role") == "tool" and cited(messages):
        return {"content": f"{echo} ", "cite_results": True}
    if messages and messages[-1].get("role") == "user" and _WEB_SEARCH in _offered(body):
        query = json.dumps({"query": last_user_text(messages)})
        return {
            "tool_calls": [{"id": f"call_search_{len(messages)}", "name": _WEB_SEARCH, "arguments": query}]
        }
    return {"content": echo}


def _offered(body: dict) -> set[str]:
    return {(t.get("function") or {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)}


def last_user_text(messages: list[dict]) -> str:
    user = [m for m in messages if m.get("role") == "user"]
    return _text(user[-1].get("content")) if user else ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


_RESULT = re.compile(r"^\[\d+\] (?P<title>.*)\nURL: (?P<url>\S+)$", re.MULTILINE)


def cited(messages: list[dict]) -> str:
    """A sentence linking every web result the last tool message lists (as a model citing them would)."""
    tools = [m for m in messages if m.get("role") == "tool"]
    found = _RESULT.finditer(_text(tools[-1].get("content"))) if tools else iter(())
    return " ".join(f"[{m['title']}]({m['url']})" for m in found)


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def usage_of(reply: Reply, body: dict) -> dict:
    """The scripted usage, or rough counts: one token per whitespace-separated word."""
    if reply.get("usage") is not None:
        return reply["usage"]
    prompt = prompt_words(body)
    reasoning = _words(reply.get("reasoning"))
    completion = (
        _words(reply.get("content"))
        + reasoning
        + sum(_words(c.get("arguments")) for c in reply.get("tool_calls") or [])
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def prompt_words(body: dict) -> int:
    return sum(_words(_text(m.get("content"))) for m in body.get("messages") or [])


def finish_reason_of(reply: Reply) -> str:
    return reply.get("finish_reason") or ("tool_calls" if reply.get("tool_calls") else "stop")


def _pieces(text: str, size: int) -> list[str]:
    size = max(size, 1)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _split_arguments(arguments: str) -> list[str]:
    """At least two pieces, so consumers must concatenate (an empty string stays one piece)."""
    cut = max(len(arguments) // _ARGUMENT_PIECES, 1)
    return [p for p in (arguments[:cut], arguments[cut:]) if p] or [arguments]


def _logprobs(piece: str, top: int) -> dict:
    alternatives = [
        {"token": f"{piece}~{n}", "logprob": -1.0 - n, "bytes": list(f"{piece}~{n}".encode())}
        for n in range(top)
    ]
    return {
        "content": [
            {"token": piece, "logprob": -0.01, "bytes": list(piece.encode()), "top_logprobs": alternatives}
        ]
    }


def _tool_call(index: int, call: dict) -> dict:
    return {
        "index": index,
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": call.get("arguments", "")},
    }


def completion(reply: Reply, body: dict, completion_id: str, created: int) -> dict:
    """The non-streaming ``chat.completion`` object for ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    if reply.get("reasoning") is not None:
        message["reasoning_content"] = reply["reasoning"]
    if reply.get("refusal") is not None:
        message["refusal"] = reply["refusal"]
    if reply.get("tool_calls"):
        message["tool_calls"] = [
            {k: v for k, v in _tool_call(i, c).items() if k != "index"}
            for i, c in enumerate(reply["tool_calls"])
        ]
    top = int(body.get("top_logprobs") or 0)
    logprobs = _logprobs(reply["content"], top) if reply.get("logprobs") and reply.get("content") else None
    answer = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.get("model", "mock"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason_of(reply), "logprobs": logprobs}
        ],
        "usage": usage_of(reply, body),
    }
    if (tier := reply.get("service_tier", body.get("service_tier"))) is not None:
        answer["service_tier"] = tier
    return answer


def chunks(reply: Reply, body: dict, completion_id: str, created: int) -> Iterator[Chunk]:
    """The ``chat.completion.chunk`` objects streaming ``reply``, in order."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
    base["model"] = body.get("model", "mock")
    if (tier := reply.get("service_tier", body.get("service_tier"))) is not None:
        base["service_tier"] = tier
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict, finish_reason: str | None = None, **extra: Any) -> Chunk:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None, **extra}
        return {**base, "choices": [choice]}

    size = int(reply.get("chunk_chars") or 4)
    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(reply.get("reasoning") or "", size):
        yield chunk({"reasoning_content": piece})
    for piece in _pieces(reply.get("content") or "", size):
        logprobs = _logprobs(piece, int(body.get("top_logprobs") or 0)) if reply.get("logprobs") else None
        yield chunk({"content": piece}, logprobs=logprobs)
    for piece in _pieces(reply.get("refusal") or "", size):
        yield chunk({"refusal": piece})
    for index, call in enumerate(reply.get("tool_calls") or []):
        pieces = _split_arguments(call.get("arguments", ""))
        yield chunk({"tool_calls": [_tool_call(index, {**call, "arguments": pieces[0]})]})
        for piece in pieces[1:]:
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, finish_reason_of(reply))
    if include_usage:
        yield {**base, "choices": [], "usage": usage_of(reply, body)}


def error_body(reply: Reply) -> dict:
    status = int(reply["status"])
    default = {"message": f"mock error {status}", "type": "mock_error", "param": None, "code": None}
    return {"error": reply.get("error") or default}


class MockState:
    """The reply queue and the request log, shared by every request of one server."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self.search = mock_search.SearchState(max_records)
        self.replies: deque[Reply] = deque()
        self.records: deque[dict] = deque(maxlen=max_records)
        self.counter = 0

    def next_reply(self, body: dict) -> Reply:
        reply = self.replies.popleft() if self.replies else default_reply(body)
        if reply.get("cite_results"):
            return {**reply, "content": (reply.get("content") or "") + cited(body.get("messages") or [])}
        return reply

    def next_id(self) -> str:
        self.counter += 1
        return f"chatcmpl-mock{self.counter}"


def create_app(state: MockState | None = None) -> Starlette:
    state = state or MockState()

    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        state.records.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
        reply = state.next_reply(body)
        await asyncio.sleep(float(reply.get("wait_s") or 0))
        if int(reply.get("status", 200)) != 200:
            return JSONResponse(error_body(reply), status_code=int(reply["status"]))
        completion_id, created = state.next_id(), int(time.time())
        if not body.get("stream"):
            await asyncio.sleep(float(reply.get("delay_s") or 0))
            return JSONResponse(completion(reply, body, completion_id, created))
        events = _sse(chunks(reply, body, completion_id, created), reply)
        return StreamingResponse(events, media_type="text/event-stream")

    async def tokenize(request: Request) -> Response:
        body = await request.json()
        state.records.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
        return JSONResponse({"count": prompt_words(body), "max_model_len": 4096})

    async def script(request: Request) -> Response:
        replies = (await request.json()).get("replies", [])
        state.replies.extend(replies)
        return JSONResponse({"queued": len(state.replies)})

    async def requests(_: Request) -> Response:
        return JSONResponse(list(state.records))

    async def reset(_: Request) -> Response:
        state.replies.clear()
        state.records.clear()
        state.search.clear()
        return JSONResponse({"reset": True})

    async def models(_: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": "mock", "object": "model", "owned_by": "mock"}]}
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/tokenize", tokenize, methods=["POST"]),
            Route("/_mock/script", script, methods=["POST"]),
            Route("/_mock/requests", requests, methods=["GET"]),
            Route("/_mock/reset", reset, methods=["POST"]),
            *mock_search.routes(state.search),
        ]
    )


class _Aborted(Exception):
    """Raised inside the SSE body so the server drops the connection mid-stream."""


async def _sse(stream: Iterator[Chunk], reply: Reply) -> AsyncIterator[bytes]:
    delay = float(reply.get("delay_s") or 0)
    abort_after = reply.get("abort_after")
    for sent, chunk in enumerate(stream):
        if abort_after is not None and sent >= int(abort_after):
            raise _Aborted(f"aborted after {sent} chunks as scripted")
        if delay and sent:
            await asyncio.sleep(delay)
        yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


class MockLLM:
    """Test client of the control endpoints; ``base_url`` is the server root, without ``/v1``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=10.0)

    def script(self, *replies: Reply) -> None:
        self._http.post("/_mock/script", json={"replies": list(replies)}).raise_for_status()

    def requests(self) -> list[dict]:
        return self._get("/_mock/requests")

    def reset(self) -> None:
        self._http.post("/_mock/reset").raise_for_status()

    def script_search(self, *replies: Reply) -> None:
        self._http.post("/_mock/search/script", json={"replies": list(replies)}).raise_for_status()

    def searches(self) -> list[dict]:
        """The searches the SearXNG stand-in answered: query parameters and headers."""
        return self._get("/_mock/search/requests")

    def _get(self, path: str) -> list[dict]:
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self._http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9901)
    parser.add_argument("--max-records", type=int, default=MAX_RECORDS, help="requests kept for /_mock")
    args = parser.parse_args()
    # No access log: it is the only place a request line would be printed, and the log stays quiet.
    uvicorn.run(
        create_app(MockState(args.max_records)),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()

"""An MCP server of the tests' own, on loopback (streamable HTTP, the ``mcp`` SDK's server side), run in
a thread of the test process so a test can see what it was asked:

    add(a, b)       the sum, as text
    lookup(key)     a canned value (read-only by its annotations); an unknown key is a tool error
    slow(seconds)   sleeps first: a server slower than the gateway's timeout
    hold()          answers once the test sets ``released``: a call in flight for as long as a test needs
    crash()         raises: a tool whose execution fails

``requests`` records every HTTP request's headers (the gateway must pass the client's ``headers`` /
``authorization``), ``calls`` every tool call. With ``token`` set, a request without
``Authorization: Bearer <token>`` is answered 401, as a server behind OAuth does.
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from starlette.types import ASGIApp, Receive, Scope, Send

from deploy.local.processes import free_port

VALUES = {"capital:fr": "Paris", "capital:it": "Rome"}
HOLD_LIMIT_S = 60.0


class LoopbackMcpServer:
    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.requests: list[dict[str, str]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # `hold` answers once this is set (a bound: HOLD_LIMIT_S).
        self.released = threading.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> ASGIApp:
        mcp = MCPServer("tests")
        calls = self.calls

        @mcp.tool(description="Add two integers.")
        def add(a: int, b: int) -> str:
            calls.append(("add", {"a": a, "b": b}))
            return str(a + b)

        @mcp.tool(description="Look a key up.", annotations=ToolAnnotations(read_only_hint=True))
        def lookup(key: str) -> str:
            calls.append(("lookup", {"key": key}))
            if key not in VALUES:
                raise ValueError(f"no such key: {key}")
            return VALUES[key]

        @mcp.tool(description="Answer after a while.")
        async def slow(seconds: float) -> str:
            calls.append(("slow", {"seconds": seconds}))
            await asyncio.sleep(seconds)
            return "late"

        @mcp.tool(description="Answer once the test releases it.")
        async def hold() -> str:
            calls.append(("hold", {}))
            for _ in range(int(HOLD_LIMIT_S / 0.05)):
                if self.released.is_set():
                    return "released"
                await asyncio.sleep(0.05)
            return "never released"

        @mcp.tool(description="Always fails.")
        def crash() -> str:
            calls.append(("crash", {}))
            raise RuntimeError("the tool broke")

        return _Recorded(mcp.streamable_http_app(stateless_http=True, json_response=True), self)

    def start(self) -> "LoopbackMcpServer":
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test MCP server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def reset(self) -> None:
        self.requests.clear()
        self.calls.clear()
        self.released.clear()


class _Recorded:
    """Records each request's headers, and answers 401 to one without the server's token."""

    def __init__(self, app: ASGIApp, server: LoopbackMcpServer) -> None:
        self._app = app
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self._server.requests.append(headers)
            token = self._server.token
            if token is not None and headers.get("authorization") != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self._app(scope, receive, send)


@contextlib.contextmanager
def running(*, token: str | None = None) -> Iterator[LoopbackMcpServer]:
    server = LoopbackMcpServer(token=token).start()
    try:
        yield server
    finally:
        server.stop()

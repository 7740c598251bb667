"""A scriptable stand-in for a SearXNG instance's JSON API (``GET /search?q=...&format=json``), served
by the mock LLM's process so ``./dev up`` and the tests have a web search provider with no network.

Each search answers with the next scripted reply, or by default three results made from the query
(``https://example.com/<slug>``, ``https://docs.example.org/<slug>``, ``https://news.example.net/<slug>``).
A scripted reply is a JSON object; every field is optional::

    results   [{url, title, content}]   the results to answer with
    status    int                       not 200: answer that status
    delay_s   float                     sleep before answering (a slow provider)

Control endpoints: ``POST /_mock/search/script {"replies": [...]}`` queues replies, ``GET
/_mock/search/requests`` lists what arrived (query parameters and headers); the mock LLM's ``POST
/_mock/reset`` clears both.
"""

import asyncio
import re
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Reply = dict[str, Any]


def default_results(query: str) -> list[dict[str, str]]:
    """Results about ``query`` without its ``site:`` operators (a domain filter leaves the pages be)."""
    words = [w for w in query.split() if w != "OR" and not w.strip("()").startswith("site:")]
    query = " ".join(words)
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-") or "query"
    return [
        {
            "url": f"https://example.com/{slug}",
            "title": f"{query} - Example",
            "content": f"All about {query}.",
        },
        {
            "url": f"https://docs.example.org/{slug}",
            "title": f"{query} documentation",
            "content": f"The reference for {query}.",
        },
        {
            "url": f"https://news.example.net/{slug}",
            "title": f"News on {query}",
            "content": f"Today's news about {query}.",
        },
    ]


class SearchState:
    def __init__(self, max_records: int) -> None:
        self.replies: deque[Reply] = deque()
        self.records: deque[dict] = deque(maxlen=max_records)

    def clear(self) -> None:
        self.replies.clear()
        self.records.clear()


def routes(state: SearchState) -> list[Route]:
    async def search(request: Request) -> Response:
        params = dict(request.query_params)
        state.records.append({"params": params, "headers": dict(request.headers)})
        reply = state.replies.popleft() if state.replies else {}
        await asyncio.sleep(float(reply.get("delay_s") or 0))
        if int(reply.get("status", 200)) != 200:
            return JSONResponse({"error": "scripted failure"}, status_code=int(reply["status"]))
        if params.get("format") != "json":
            return JSONResponse({"error": "only format=json is served"}, status_code=403)  # as SearXNG
        query = params.get("q", "")
        results = reply["results"] if "results" in reply else default_results(query)
        return JSONResponse({"query": query, "number_of_results": len(results), "results": results})

    async def script(request: Request) -> Response:
        state.replies.extend((await request.json()).get("replies", []))
        return JSONResponse({"queued": len(state.replies)})

    async def requests(_: Request) -> Response:
        return JSONResponse(list(state.records))

    return [
        Route("/search", search, methods=["GET"]),
        Route("/_mock/search/script", script, methods=["POST"]),
        Route("/_mock/search/requests", requests, methods=["GET"]),
    ]

"""Web search providers: a SearXNG instance (its JSON API) and Tavily's search API. Each answers a
``SearchRequest`` with results, within its timeout, or raises ``ToolFailed`` naming what went wrong
in words fit for the model and the log: never the provider's key, which travels only in a header."""

from typing import Any, Protocol

import httpx

from services.worker.builtin.base import ToolFailed
from shared.config import WebSearchConfig
from shared.domain.builtin_tools import SearchRequest, SearchResult

TAVILY_URL = "https://api.tavily.com"


class SearchProvider(Protocol):
    async def search(self, request: SearchRequest) -> list[SearchResult]: ...


class SearXNG:
    """``GET <url>/search?q=...&format=json``: the instance must have ``json`` among its
    ``search.formats``. Domain filters become ``site:`` operators (the engines behind it honour them
    or not: the results are filtered again by the loop)."""

    def __init__(self, client: httpx.AsyncClient, config: WebSearchConfig, api_key: str | None) -> None:
        self._client = client
        self._url = (config.url or "").rstrip("/") + "/search"
        self._timeout = config.timeout_s
        # An instance behind an authenticating proxy takes a bearer token.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def search(self, request: SearchRequest) -> list[SearchResult]:
        sites = " OR ".join(f"site:{domain}" for domain in request.allowed_domains)
        query = (
            f"{request.query} ({sites})" if len(request.allowed_domains) > 1 else f"{request.query} {sites}"
        )
        params = {"q": query.strip(), "format": "json", "safesearch": "1"}
        if request.country:
            params["language"] = f"all-{request.country.upper()}"
        body = await _answer(
            self._client.get(self._url, params=params, headers=self._headers, timeout=self._timeout)
        )
        return _results(body, snippet="content")


class Tavily:
    """``POST <url>/search`` with the key as a bearer token; domains go in ``include_domains``."""

    def __init__(self, client: httpx.AsyncClient, config: WebSearchConfig, api_key: str | None) -> None:
        self._client = client
        self._url = (config.url or TAVILY_URL).rstrip("/") + "/search"
        self._timeout = config.timeout_s
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def search(self, request: SearchRequest) -> list[SearchResult]:
        payload: dict[str, Any] = {
            "query": request.query,
            "max_results": request.count,
            "search_depth": "basic",
        }
        if request.allowed_domains:
            payload["include_domains"] = list(request.allowed_domains)
        post = self._client.post(self._url, json=payload, headers=self._headers, timeout=self._timeout)
        return _results(await _answer(post), snippet="content")


PROVIDERS = {"searxng": SearXNG, "tavily": Tavily}


def provider(client: httpx.AsyncClient, config: WebSearchConfig, api_key: str | None) -> SearchProvider:
    return PROVIDERS[config.provider](client, config, api_key)


async def _answer(sent: Any) -> Any:
    try:
        response = await sent
    except httpx.TimeoutException:
        raise ToolFailed("The search provider did not answer in time.") from None
    except httpx.HTTPError as error:
        raise ToolFailed(f"The search provider could not be reached ({type(error).__name__}).") from None
    if response.status_code != 200:
        raise ToolFailed(f"The search provider answered HTTP {response.status_code}.")
    try:
        return response.json()
    except ValueError:
        raise ToolFailed("The search provider's answer was not JSON.") from None


def _results(body: Any, *, snippet: str) -> list[SearchResult]:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise ToolFailed("The search provider's answer held no results list.")
    return [
        SearchResult(url=r["url"], title=str(r.get("title") or r["url"]), snippet=str(r.get(snippet) or ""))
        for r in results
        if isinstance(r, dict) and isinstance(r.get("url"), str)
    ]

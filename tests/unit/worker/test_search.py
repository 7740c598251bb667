"""The search providers against httpx's MockTransport: what each sends (query, filters, country, key),
how it reads the answer, and that every failure is a ToolFailed that never names the key."""

import json

import httpx
import pytest

from services.worker.builtin.base import ToolFailed
from services.worker.builtin.search import SearXNG, Tavily, provider
from shared.config import WebSearchConfig
from shared.domain.builtin_tools import SearchRequest, SearchResult

KEY = "tvly-secret-key"
REQUEST = SearchRequest(
    query="q", count=3, snippet_chars=100, allowed_domains=("a.com", "b.org"), country="fr"
)


def client(answer) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


def results(*_: object) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "results": [
                {"url": "https://a.com/1", "title": "One", "content": "first"},
                {"url": "https://b.org/2", "content": "untitled"},
                {"title": "no url"},
                "junk",
            ]
        },
    )


async def test_searxng_asks_its_json_api_with_site_operators_and_the_country():
    http, seen = client(results)
    config = WebSearchConfig(provider="searxng", url="http://searx:8080/")
    found = await provider(http, config, None).search(REQUEST)
    assert found == [
        SearchResult("https://a.com/1", "One", "first"),
        SearchResult("https://b.org/2", "https://b.org/2", "untitled"),
    ]
    (sent,) = seen
    assert sent.url.path == "/search" and sent.url.host == "searx"
    assert dict(sent.url.params) == {
        "q": "q (site:a.com OR site:b.org)",
        "format": "json",
        "safesearch": "1",
        "language": "all-FR",
    }
    assert "authorization" not in sent.headers


async def test_searxng_with_one_domain_and_a_token_behind_a_proxy():
    http, seen = client(results)
    config = WebSearchConfig(provider="searxng", url="http://searx")
    await SearXNG(http, config, "proxy-token").search(
        SearchRequest(query="q", count=1, snippet_chars=1, allowed_domains=("a.com",))
    )
    assert seen[0].url.params["q"] == "q site:a.com" and "language" not in seen[0].url.params
    assert seen[0].headers["authorization"] == "Bearer proxy-token"


async def test_tavily_posts_the_query_with_its_key_and_domains():
    http, seen = client(results)
    config = WebSearchConfig(provider="tavily", api_key_env="TAVILY_API_KEY")
    found = await Tavily(http, config, KEY).search(REQUEST)
    assert [r.url for r in found] == ["https://a.com/1", "https://b.org/2"]
    (sent,) = seen
    assert str(sent.url) == "https://api.tavily.com/search"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {
        "query": "q",
        "max_results": 3,
        "search_depth": "basic",
        "include_domains": ["a.com", "b.org"],
    }


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"refused with {KEY}", request=request)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda _: httpx.Response(401, json={"detail": f"bad key {KEY}"}), "answered HTTP 401"),
        (timeout, "did not answer in time"),
        (refused, r"could not be reached \(ConnectError\)"),
        (lambda _: httpx.Response(200, text="<html>"), "was not JSON"),
        (lambda _: httpx.Response(200, json={"answer": "x"}), "held no results list"),
    ],
)
async def test_every_failure_is_a_tool_failure_that_never_names_the_key(answer, message):
    http, _ = client(answer)
    config = WebSearchConfig(provider="tavily", api_key_env="K")
    with pytest.raises(ToolFailed, match=message) as error:
        await Tavily(http, config, KEY).search(REQUEST)
    assert KEY not in str(error.value)

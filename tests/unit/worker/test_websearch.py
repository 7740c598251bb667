"""The web search executor with a provider of the test's own: the item and events a call shows, what
the model reads, and a failed or malformed call."""

from services.worker.builtin.base import StepContext, ToolFailed
from services.worker.builtin.websearch import WebSearch
from shared.domain import builtin_tools, stream
from shared.domain.builtin_tools import SearchRequest, SearchResult
from shared.events import HostedCall, HostedTool

from .test_runs import call


class Provider:
    def __init__(self, *found: SearchResult, fails: bool = False) -> None:
        self.found, self.fails, self.asked = list(found), fails, []

    async def search(self, request: SearchRequest) -> list[SearchResult]:
        self.asked.append(request)
        if self.fails:
            raise ToolFailed("The search provider answered HTTP 502.")
        return self.found


PLAIN = HostedTool(type="web_search")


async def run(provider: Provider, arguments: str, hosted: HostedTool = PLAIN):
    state = stream.resume(call().response, sequence_start=5)
    emitted: list[dict] = []

    async def emit(events: list[dict]) -> None:
        emitted.extend(events)

    context = StepContext(state=state, emit=emit, call=call())
    result = await WebSearch(provider).run(
        HostedCall(call_id="c", name="web_search", arguments=arguments), hosted, context
    )
    return result, emitted, state


async def test_a_search_shows_its_item_and_gives_the_model_the_results():
    found = [SearchResult("https://a.com/x", "A", "about a"), SearchResult("ftp://b", "B")]
    hosted = HostedTool(type="web_search", include=[builtin_tools.SOURCES_INCLUDE])
    result, events, state = await run(Provider(*found), '{"query": "q"}', hosted)
    assert [e["type"] for e in events] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    assert [e["sequence_number"] for e in events] == [5, 6, 7, 8, 9]
    item = events[-1]["item"]
    assert item["status"] == "completed" and item["id"].startswith("ws_")
    assert item["action"] == {
        "type": "search",
        "query": "q",
        "sources": [{"type": "url", "url": "https://a.com/x"}],
    }
    assert state.output == [item]
    assert result.message.startswith('Web results for "q":') and "ftp://b" not in result.message
    assert result.sources == [{"url": "https://a.com/x", "title": "A"}] and result.counts


async def test_a_failed_search_fails_its_item_and_tells_the_model():
    result, events, _ = await run(Provider(fails=True), '{"query": "q"}')
    assert events[-1]["type"] == "response.output_item.done" and events[-1]["item"]["status"] == "failed"
    assert "response.web_search_call.completed" not in [e["type"] for e in events]
    assert result.message == "The search failed: The search provider answered HTTP 502."


async def test_a_call_without_a_query_searches_nothing_and_does_not_count():
    provider = Provider()
    result, events, _ = await run(provider, '{"q": 1}')
    assert events == [] and provider.asked == [] and not result.counts
    assert "query" in result.message

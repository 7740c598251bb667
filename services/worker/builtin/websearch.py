"""The ``web_search`` executor: one call of the model's is one search, shown to the client as a
``web_search_call`` item (in_progress, searching, completed), read by the model as numbered results."""

from services.worker.builtin.base import StepContext, StepResult, ToolFailed
from services.worker.builtin.search import SearchProvider
from shared.domain import builtin_tools, stream
from shared.events import HostedCall, HostedTool


class WebSearch:
    def __init__(self, provider: SearchProvider) -> None:
        self._provider = provider

    async def run(self, call: HostedCall, hosted: HostedTool, step: StepContext) -> StepResult:
        try:
            request = builtin_tools.search_request(hosted, call.arguments)
        except ValueError as error:  # the model's mistake: it reads why, and no search is shown
            return StepResult(message=str(error), counts=False, outcome="invalid")
        state = step.state
        index, events = stream.open_item(state, builtin_tools.web_search_item(request.query), "ws")
        events.append(stream.item_event(state, "response.web_search_call.in_progress", index))
        await step.emit(events)
        await step.emit([stream.item_event(state, "response.web_search_call.searching", index)])
        try:
            results = builtin_tools.kept(await self._provider.search(request), request)
        except ToolFailed as error:
            await step.emit(stream.close_item(state, index, "failed"))
            return StepResult(message=f"The search failed: {error}", outcome="failed")
        action = builtin_tools.search_action(hosted, request.query, results)
        await step.emit(
            [
                stream.item_event(state, "response.web_search_call.completed", index),
                *stream.close_item(state, index, "completed", action=action),
            ]
        )
        return StepResult(
            message=builtin_tools.results_text(request, results), sources=builtin_tools.sources(results)
        )

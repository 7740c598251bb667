"""The api's one-shot backend calls (``shared/backend_calls.py``), served by any worker replica over
request/reply through the same pool as a response's run: routing, failover, cooldowns, rate limits
and metrics. Nothing is logged; every failure is answered as a ``Refused`` reply, never left to the
api's timeout."""

import logging

from services.worker.failover import Backends
from shared import chatclient
from shared.backend_calls import Completed, CompletionRequested, Refused, TokenCountRequested, TokensCounted
from shared.domain import routing, stream, tokens
from shared.errors import BackendFailed, GatewayError

log = logging.getLogger(__name__)


class OneShots:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    async def complete(self, request: CompletionRequested) -> Completed:
        """The Response object the backend's whole answer folds into."""
        attempt = self._backends.attempt(
            model=request.model,
            chat=request.chat,
            truncate=request.truncate,
            vendor_fields=request.vendor_fields,
        )
        state, _ = stream.start({"id": request.response_id})
        try:
            async for chunk in attempt.chunks():
                stream.on_chunk(state, chunk)
        except GatewayError as error:
            return Completed(refused=Refused.of(error))
        except Exception as error:  # a backend answering garbage, or a bug: answer it, never go silent
            log.exception("a completion for %s failed", request.response_id)
            failed = BackendFailed(f"The backend's answer could not be read ({type(error).__name__}).")
            return Completed(refused=Refused.of(failed))
        return Completed(response=stream.finish(state)[-1]["response"])

    async def count(self, request: TokenCountRequested) -> TokensCounted:
        """The input tokens of the chat as the first deployment of the plan would get it: counted by its
        tokenizer where it names one (and that answers), else estimated."""
        try:
            deployment = self._backends.pool.plan(request.model, affinity=None)[0]
        except GatewayError as error:
            return TokensCounted(refused=Refused.of(error))
        chat = routing.fitted(request.chat, deployment, truncate=request.truncate)
        counted = await chatclient.tokenize(self._backends.client, deployment, chat)
        return TokensCounted(input_tokens=tokens.estimate_chat(chat) if counted is None else counted)

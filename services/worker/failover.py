"""One chat body streamed from the first deployment of the pool's plan that answers: what a response's
run and a one-shot call (``compact``) share. Every try counts against its deployment's rpm and metrics;
one that is overloaded, erring or unreachable before its first chunk is left for the next (or, for a
failed connection with none left, tried again: ``routing.next_try``), after a backoff. Once a chunk
has been yielded the answer is that deployment's, and its failure is the caller's."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from services.worker.deployments import Pool
from shared import chatclient
from shared.config import Deployment
from shared.domain import routing
from shared.errors import BackendUnavailable


@dataclass(frozen=True)
class Backends:
    """The deployments and the HTTP client that reaches them: every backend call needs both, so they
    travel as one thing from the composition root to a run and a one-shot call."""

    pool: Pool
    client: httpx.AsyncClient

    def attempt(
        self,
        *,
        model: str,
        chat: dict[str, Any],
        affinity: str | None = None,
        truncate: bool = False,
        vendor_fields: list[str] | tuple[str, ...] = (),
        stream: bool = True,
    ) -> "Attempt":
        """A chat call to ``model``, not started until its ``chunks`` are read; not streamed from the
        backend unless ``stream`` (the chunks are the same, see ``chatclient.chat_chunks``)."""
        return Attempt(
            self,
            model=model,
            chat=chat,
            affinity=affinity,
            truncate=truncate,
            vendor_fields=vendor_fields,
            stream=stream,
        )


class Attempt:
    """``deployment`` is the one trying (after the end: the one that served, or was tried last);
    ``usage`` the chat usage of a finished answer."""

    def __init__(
        self,
        backends: Backends,
        *,
        model: str,
        chat: dict[str, Any],
        affinity: str | None,
        truncate: bool,
        vendor_fields: list[str] | tuple[str, ...],
        stream: bool,
    ) -> None:
        self._backends = backends
        self._stream = stream
        self._model = model
        self._chat = chat
        self._affinity = affinity
        self._truncate = truncate
        self._vendor_fields = vendor_fields
        self.deployment: Deployment | None = None
        self.usage: dict[str, Any] | None = None

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        pool = self._backends.pool
        planned = pool.plan(self._model, affinity=self._affinity)
        deployment, tries = planned[0], 0
        while True:
            tries += 1
            self.deployment = deployment
            pool.started(deployment)
            last: dict[str, Any] | None = None
            try:
                body = routing.body_for(
                    self._chat,
                    deployment,
                    vendor_fields=self._vendor_fields,
                    truncate=self._truncate,
                    stream=self._stream,
                )
                async for last in chatclient.chat_chunks(self._backends.client, deployment, body):
                    yield last
            except BackendUnavailable as error:
                pool.failed(deployment, error.reason)
                again = routing.next_try(planned, deployment, error.reason, tries=tries, config=pool.config)
                if last is not None or again is None:
                    raise
                deployment = again
                await asyncio.sleep(routing.backoff_s(pool.config, tries))
                continue
            self.usage = last.get("usage") if last else None  # the final chunk carries it
            pool.succeeded(deployment, self.usage)
            return

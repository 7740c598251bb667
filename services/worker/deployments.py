"""The deployments as this worker process sees them: consecutive failures and cooldowns, and the
requests and tokens each was sent in the current minute (rpm / tpm are enforced per worker process).
``routing`` decides from a snapshot of this state; this module only keeps it."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.worker import metrics
from shared.config import Deployment, GatewayConfig
from shared.domain import routing


@dataclass
class _State:
    failures: int = 0
    cooling_until: float = 0.0
    minute: int = -1
    requests: int = 0
    tokens: int = 0


class Pool:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng or random.Random()
        self._states = {d.id: _State() for d in config.models}

    def plan(self, model: str, *, affinity: str | None) -> list[Deployment]:
        """The deployments to try for ``model``, first choice first (see ``routing.plan``)."""
        return routing.plan(self.config, model, health=self.health(), affinity=affinity, rng=self._rng)

    def health(self) -> routing.Health:
        now = self._clock()
        cooling = {i for i, s in self._states.items() if s.cooling_until > now}
        saturated = {d.id for d in self.config.models if self._saturated(d, now)}
        return routing.Health(cooling=frozenset(cooling), saturated=frozenset(saturated))

    def started(self, deployment: Deployment) -> None:
        """A request is being sent to ``deployment``: it counts against its rpm."""
        self._window(deployment).requests += 1
        metrics.BACKEND_ATTEMPTS.labels(deployment.id).inc()

    def succeeded(self, deployment: Deployment, usage: dict[str, Any] | None) -> None:
        """``deployment`` streamed a whole answer; ``usage`` is the chat usage of its last chunk."""
        self._states[deployment.id].failures = 0
        tokens = int((usage or {}).get("total_tokens") or 0)
        self._window(deployment).tokens += tokens
        metrics.record_tokens(deployment.id, usage or {})

    def failed(self, deployment: Deployment, reason: str) -> None:
        """``deployment`` refused or broke off; after ``cooldown.failures`` in a row it cools down,
        and comes back by itself once ``cooldown.seconds`` have passed."""
        metrics.BACKEND_ERRORS.labels(deployment.id, reason).inc()
        state = self._states[deployment.id]
        state.failures += 1
        if state.failures >= self.config.cooldown.failures:
            state.failures = 0
            state.cooling_until = self._clock() + self.config.cooldown.seconds
            metrics.COOLDOWNS.labels(deployment.id).inc()

    def _window(self, deployment: Deployment) -> _State:
        state = self._states[deployment.id]
        minute = int(self._clock() // 60)
        if state.minute != minute:
            state.minute, state.requests, state.tokens = minute, 0, 0
        return state

    def _saturated(self, deployment: Deployment, now: float) -> bool:
        state = self._states[deployment.id]
        if state.minute != int(now // 60):
            return False
        return (deployment.rpm is not None and state.requests >= deployment.rpm) or (
            deployment.tpm is not None and state.tokens >= deployment.tpm
        )

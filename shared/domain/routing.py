"""Which deployments serve a chat call, in the order they are tried, and the body each gets. Pure: the
health of every deployment comes in as a ``Health`` snapshot, randomness as an ``rng``.

The plan of a call walks the model's own deployments, then those of each fallback model in order.
Within one model: the affinity deployment first (the one that served the previous turn, whose prefix
cache is warm), then the others in a weighted random order, standbys (weight 0) last. A deployment
that is cooling down is left out while any other can serve; one at its rpm / tpm limit is left out.
A try that failed before its first chunk goes on to the next deployment of the plan, or, for a failed
connection with no deployment left, to the same one again (``next_try``).
"""

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.config import Deployment, GatewayConfig
from shared.domain import truncation
from shared.errors import ModelNotFound, RateLimited


@dataclass(frozen=True)
class Health:
    """What this worker knows of its deployments right now, by deployment id."""

    cooling: frozenset[str] = frozenset()
    saturated: frozenset[str] = frozenset()  # at their rpm or tpm limit in the current minute


def plan(
    config: GatewayConfig, model: str, *, health: Health, affinity: str | None, rng: random.Random
) -> list[Deployment]:
    """The deployments to try for ``model``, first choice first; each appears once."""
    served(config, model)
    candidates: list[Deployment] = []
    for name in [model, *config.fallbacks.get(model, [])]:
        ordered = _ordered(config.deployments(name), affinity, rng)
        candidates.extend(d for d in ordered if d not in candidates)
    open_ = [d for d in candidates if d.id not in health.saturated]
    if not open_:
        raise RateLimited(f"Every deployment of `{model}` is at its rate limit; try again shortly.")
    healthy = [d for d in open_ if d.id not in health.cooling]
    # Cooling deployments are a last resort rather than no answer at all: one may have recovered.
    return healthy + [d for d in open_ if d.id in health.cooling]


def served(config: GatewayConfig, model: str) -> list[Deployment]:
    """The deployments of the client-facing name ``model``; ``ModelNotFound`` when it names none. The
    one model check: the api's, before it accepts a request, and the worker's, before it routes one."""
    if deployments := config.deployments(model):
        return deployments
    raise ModelNotFound(model)


# Failures of the connection itself, before any answer: the deployment may well serve the next try,
# and nothing reached the client, so the only deployment left is tried again.
CONNECTION_FAILURES = frozenset(
    {"ConnectError", "ConnectTimeout", "RemoteProtocolError", "ReadError", "WriteError"}
)


def next_try(
    planned: list[Deployment], failed: Deployment, reason: str, *, tries: int, config: GatewayConfig
) -> Deployment | None:
    """Where to go after ``failed`` failed before its first chunk, ``tries`` tries in: the next
    deployment of the plan; else, when the failure was the connection's, ``failed`` again; None once
    ``retry.attempts`` tries are spent or nothing is left."""
    if tries >= config.retry.attempts:
        return None
    later = planned[planned.index(failed) + 1 :]
    if later:
        return later[0]
    return failed if reason in CONNECTION_FAILURES else None


def backoff_s(config: GatewayConfig, retry: int) -> float:
    """The pause before the ``retry``-th retry (1-based): exponential from ``retry.backoff_s``."""
    return config.retry.backoff_s * 2 ** (retry - 1)


def refused_vendor_fields(config: GatewayConfig, model: str, fields: Iterable[str]) -> list[str]:
    """The vendor fields some deployment of ``model`` does not accept (``Deployment.extra_fields``), in
    the order given. Every one of the model's own deployments must accept a field, since any of them
    may serve the request; fallbacks are not asked (``body_for`` leaves out what one does not take)."""
    lists = [set(d.extra_fields) for d in config.deployments(model) if d.extra_fields is not None]
    return [name for name in fields if any(name not in accepted for accepted in lists)]


def body_for(
    chat: dict[str, Any],
    deployment: Deployment,
    *,
    vendor_fields: Iterable[str] = (),
    truncate: bool = False,
    stream: bool = True,
) -> dict[str, Any]:
    """The translated chat body, addressed to one deployment: its upstream model name, streaming with
    usage (unless not ``stream``), the max-tokens parameter spelled the way that backend wants,
    ``service_tier`` only where the deployment forwards it, of the request's ``vendor_fields`` only
    those it accepts; truncated as ``fitted`` says."""
    chat = fitted(chat, deployment, truncate=truncate)
    streaming = {"stream": True, "stream_options": {"include_usage": True}} if stream else {"stream": False}
    body = {**chat, "model": deployment.model, **streaming}
    if deployment.extra_fields is not None:
        for name in set(vendor_fields) - set(deployment.extra_fields):
            body.pop(name, None)
    if not deployment.forward_service_tier:
        body.pop("service_tier", None)
    if "max_tokens" in body and deployment.max_tokens_param != "max_tokens":
        body[deployment.max_tokens_param] = body.pop("max_tokens")
    return body


def fitted(chat: dict[str, Any], deployment: Deployment, *, truncate: bool) -> dict[str, Any]:
    """With ``truncate`` (the request's ``truncation: "auto"``), ``chat`` without the oldest turns that
    do not fit this deployment's ``context_window`` (when it names one); else ``chat`` itself."""
    if truncate and deployment.context_window is not None:
        return truncation.fit(chat, context_window=deployment.context_window)
    return chat


def _ordered(deployments: list[Deployment], affinity: str | None, rng: random.Random) -> list[Deployment]:
    """Affinity first, then weighted random order without replacement (Efraimidis-Spirakis: each key
    is ``u ** (1 / weight)``, largest first), then standbys in file order."""
    first = [d for d in deployments if d.id == affinity]
    weighted = [d for d in deployments if d.weight > 0 and d.id != affinity]
    standby = [d for d in deployments if d.weight == 0 and d.id != affinity]
    weighted.sort(key=lambda d: rng.random() ** (1.0 / d.weight), reverse=True)
    return first + weighted + standby

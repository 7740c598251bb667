"""The worker's Prometheus metrics: what only the worker sees (attempts on each deployment, backend
errors, cooldowns, tokens). Served on ``METRICS_PORT`` when that is set; the api serves the rest."""

from typing import Any

from prometheus_client import Counter, start_http_server

from shared.config import Settings

BACKEND_ATTEMPTS = Counter(
    "gateway_backend_attempts", "Requests sent to a chat deployment, retries included", ["deployment"]
)
BACKEND_ERRORS = Counter(
    "gateway_backend_errors",
    "Failed requests to a chat deployment (429, 5xx, connect errors, timeouts)",
    ["deployment", "reason"],
)
COOLDOWNS = Counter("gateway_deployment_cooldowns", "Times a deployment was put in cooldown", ["deployment"])
BUILTIN_TOOL_CALLS = Counter(
    "gateway_builtin_tool_calls",
    "Built-in tool calls the model made, by tool type and outcome (ok, failed, invalid, not_run past "
    "max_tool_calls, unavailable on this replica)",
    ["type", "outcome"],
)
TOKENS = Counter("gateway_tokens", "Tokens used at a deployment", ["deployment", "kind"])


def record_tokens(deployment: str, usage: dict[str, Any]) -> None:
    """Count one finished call's chat usage."""
    counts = {
        "input": usage.get("prompt_tokens"),
        "cached_input": (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        "output": usage.get("completion_tokens"),
        "reasoning": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
    }
    for kind, count in counts.items():
        if count:
            TOKENS.labels(deployment, kind).inc(int(count))


def serve(settings: Settings) -> None:
    """Expose ``/metrics`` on ``METRICS_PORT``, if set (each worker replica needs a port of its own)."""
    if settings.metrics_port is not None:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)

"""What a response used and cost, from its terminal event: the usage document's fields.

One document per response, ``_id = response_id``, stored or not, written once from its terminal
event, which carries all of it (the worker stamps the key id and the serving deployment on it)::

    tenant, key_id, model, created_at, status, finished_at, deployment, *_tokens, cost_usd, error_code

The document is inserted under the response's id; a redelivery or a replay finds it there, and its
``$set`` of the same facts changes nothing. The cost is the worker's, at the prices its
deployment had when it served the call. Usage documents do not expire: they are the accounts.
"""

from typing import Any, Literal

from shared.config import Deployment
from shared.domain.projection import Write
from shared.events import Event, ResponseStreamed

GroupBy = Literal["key", "model", "deployment", "project"]
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def write_for(event: Event) -> Write | None:
    """The usage write of ``event``, or None if it tells nothing about usage."""
    if isinstance(event, ResponseStreamed) and event.is_terminal:
        outcome = _outcome(event)
        # Redelivery and replay aside, a response's usage document is new: inserted, not upserted.
        first = {"_id": event.response_id, **outcome}
        return Write(filter={"_id": event.response_id}, update={"$set": outcome}, insert=first)
    return None


def _outcome(event: ResponseStreamed) -> dict[str, Any]:
    response = event.payload["response"]
    usage = response.get("usage") or {}
    tokens = {
        "input_tokens": usage.get("input_tokens") or 0,
        "cached_input_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0,
        "output_tokens": usage.get("output_tokens") or 0,
        "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
        "total_tokens": usage.get("total_tokens") or 0,
    }
    return {
        "tenant": event.tenant,
        "key_id": event.key_id,
        "model": response.get("model"),
        "created_at": response.get("created_at"),
        "status": response.get("status"),
        "finished_at": event.occurred_at,
        "deployment": event.served_by,
        "cost_usd": event.cost_usd or 0.0,
        "error_code": (response.get("error") or {}).get("code"),
        **tokens,
    }


def cost_usd(deployment: Deployment, usage: dict[str, Any] | None) -> float:
    """What one call cost at ``deployment``'s prices, from its chat usage (cached tokens are part of
    ``prompt_tokens``; they are priced apart when the deployment names a cached price)."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached_price = deployment.cached_input_cost_per_mtok
    if cached_price is None:
        cached_price, cached = deployment.input_cost_per_mtok, 0
    micro = (
        (prompt - cached) * deployment.input_cost_per_mtok
        + cached * cached_price
        + completion * deployment.output_cost_per_mtok
    )
    return micro / 1_000_000

"""Which deployment serves a chat call, and the body that deployment gets. Pure."""

from typing import Any

from shared.config import Deployment, GatewayConfig
from shared.errors import InvalidRequest


def choose_deployment(config: GatewayConfig, model: str) -> Deployment:
    deployment = config.deployment(model)
    if deployment is None:
        raise InvalidRequest(f"The model `{model}` does not exist.", param="model", code="model_not_found")
    return deployment


def body_for(chat: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The translated chat body, addressed to one deployment: its upstream model name, streaming with
    usage, and the max-tokens parameter spelled the way that backend wants."""
    body = {**chat, "model": deployment.model, "stream": True, "stream_options": {"include_usage": True}}
    if "max_tokens" in body and deployment.max_tokens_param != "max_tokens":
        body[deployment.max_tokens_param] = body.pop("max_tokens")
    return body

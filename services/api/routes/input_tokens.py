"""``POST /v1/responses/input_tokens``: how many input tokens a would-be request would send.

The request is translated exactly as ``POST /v1/responses`` would be (its chain and truncation
included), then counted by the deployment's tokenize endpoint where the config names one, else by the
documented estimate of ``shared/domain/tokens.py``. A tokenizer that fails also falls back to the
estimate: a count is advice, and failing it would help no one.
"""

import logging
import os
from typing import Any

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.api import translation, validation
from services.api.deps import GatewayDep, TenantDep
from shared.config import Deployment
from shared.domain import tokens
from shared.request_model import ResponseCreateRequest

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")

_TOKENIZE_TIMEOUT_S = 30.0


class TokenCountRequest(ResponseCreateRequest):
    """OpenAI's ``TokenCountsBody``: a create request whose ``model`` is optional (counted by estimate)."""

    model: str | None = None  # type: ignore[assignment]


class TokenCounts(BaseModel):
    object: str = "response.input_tokens"
    input_tokens: int


@router.post("/responses/input_tokens")
async def count_input_tokens(request: Request, gateway: GatewayDep, tenant: TenantDep) -> TokenCounts:
    max_bytes = gateway.settings.max_body_bytes
    body = validation.parse_request(await request.body(), max_bytes=max_bytes, model=TokenCountRequest)
    deployment = translation.deployment_for(gateway, body.model) if body.model else None
    history = await translation.load_history(gateway, tenant, body)
    chat = await translation.chat_for(gateway, tenant, body, history, deployment)
    counted = await _tokenize(deployment, chat) if deployment and deployment.tokenize_url else None
    return TokenCounts(input_tokens=tokens.estimate_chat(chat) if counted is None else counted)


async def _tokenize(deployment: Deployment, chat: dict[str, Any]) -> int | None:
    """The backend's own count (vLLM / SGLang ``/tokenize``), or None if it could not give one."""
    request: dict[str, Any] = {"model": deployment.model, "messages": chat["messages"]}
    if chat.get("tools"):
        request["tools"] = chat["tools"]
    headers = {}
    if deployment.api_key_env and (key := os.environ.get(deployment.api_key_env)):
        headers["Authorization"] = f"Bearer {key}"
    try:
        async with httpx.AsyncClient(timeout=_TOKENIZE_TIMEOUT_S) as client:
            reply = await client.post(str(deployment.tokenize_url), json=request, headers=headers)
            reply.raise_for_status()
            return int(reply.json()["count"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("tokenize on %r failed (%s); estimating instead", deployment.name, type(exc).__name__)
        return None

"""``POST /v1/responses/input_tokens``: how many input tokens a would-be request would send.

The request is translated exactly as ``POST /v1/responses`` would be (its chain included). Where the
count depends on the deployment (one of the model's has a tokenizer, or the request truncates to a
context window) the worker counts it for the deployment it would route to (``shared/backend_calls.py``:
its tokenize endpoint, else the estimate); otherwise the api answers with the documented estimate of
``shared/domain/tokens.py`` itself, sparing the hop.
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.api import bodies, translation
from services.api.deps import GatewayDep, TenantDep
from shared import backend_calls, subjects
from shared.config import GatewayConfig
from shared.domain import routing, tokens
from shared.request_model import ResponseCreateRequest

router = APIRouter(prefix="/v1")

# A worker answers within its tokenizer's own 30 s timeout, falling back to the estimate.
_COUNT_TIMEOUT_S = 35.0


class TokenCountRequest(ResponseCreateRequest):
    """OpenAI's ``TokenCountsBody``: a create request whose ``model`` is optional (counted by estimate)."""

    model: str | None = None  # type: ignore[assignment]


class TokenCounts(BaseModel):
    object: str = "response.input_tokens"
    input_tokens: int


@router.post("/responses/input_tokens")
async def count_input_tokens(request: Request, gateway: GatewayDep, tenant: TenantDep) -> TokenCounts:
    body = await bodies.parsed(request, max_bytes=gateway.settings.max_body_bytes, model=TokenCountRequest)
    if body.model is not None:
        routing.served(gateway.config, body.model)
    chat = translation.chat_for(gateway, tenant, body, await translation.loaded_for(gateway, tenant, body))
    if body.model is None or not counted_by_worker(gateway.config, body.model, body.truncation):
        return TokenCounts(input_tokens=tokens.estimate_chat(chat))
    asked = backend_calls.TokenCountRequested(model=body.model, chat=chat, truncate=body.truncation == "auto")
    counted = await backend_calls.ask(
        gateway.nc, subjects.BACKEND_COUNT, asked, backend_calls.TokensCounted, timeout_s=_COUNT_TIMEOUT_S
    )
    return TokenCounts(input_tokens=counted.input_tokens)


def counted_by_worker(config: GatewayConfig, model: str, truncation: str) -> bool:
    """Whether the count depends on the deployment that would serve: a tokenizer, or a window to fit."""
    deployments = routing.served(config, model)
    return any(d.tokenize_url or (truncation == "auto" and d.context_window) for d in deployments)

"""The translator's pure mapping, run inside the api for the endpoints that answer at once and put no
response in the log (``input_tokens``, ``compact``): the same chain, references and function as the
translator service uses, so a count or a compaction sees exactly what a real request would send. The
body goes to the worker (``shared/backend_calls.py``), which fits it to the deployment that serves."""

from typing import Any

from services.api import planning, validation
from services.api.deps import Gateway
from shared import reasoning_blobs
from shared.domain import requests
from shared.errors import NotFound
from shared.readmodel import chains, conversations, fresh
from shared.request_model import ResponseCreateRequest


async def previous_turn(gateway: Gateway, tenant: str, previous_id: str | None) -> planning.PreviousTurn:
    """The turn before a request's, named by ``previous_response_id``: it must exist for this tenant."""
    doc = (
        await fresh.response_doc(gateway.db, gateway.log_reads, tenant=tenant, response_id=previous_id)
        if previous_id
        else None
    )
    return planning.previous_turn(previous_id, doc)


async def loaded_for(gateway: Gateway, tenant: str, request: ResponseCreateRequest) -> chains.Loaded:
    """What the translator would load for ``request``: its chain's stored turns (or its conversation's
    items) and referenced items."""
    validation.check_one_history(request)
    chain = (await previous_turn(gateway, tenant, request.previous_response_id)).chain
    loaded = await chains.load(gateway.db, tenant=tenant, chain=chain, request=request, log=gateway.log_reads)
    if loaded.conversation_missing:
        raise _no_conversation(request.conversation_id())
    return loaded


async def require_conversation(gateway: Gateway, tenant: str, conversation_id: str) -> None:
    """The conversation a new turn names must be the tenant's."""
    if await conversations.history(gateway.db, tenant=tenant, conversation_id=conversation_id) is None:
        raise _no_conversation(conversation_id)


def _no_conversation(conversation_id: str | None) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.", param="conversation")


def chat_for(
    gateway: Gateway, tenant: str, request: ResponseCreateRequest, loaded: chains.Loaded
) -> dict[str, Any]:
    """The Chat Completions body the translator would build for ``request``."""
    return requests.build_chat_request(
        request,
        loaded.history,
        references=loaded.references,
        replay_reasoning=gateway.config.replay_reasoning,
        open_reasoning=reasoning_blobs.opener(gateway.master, tenant) if gateway.master else None,
    )

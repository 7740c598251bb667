"""The translator's pure mapping, run inside the api for the endpoints that answer at once and put no
response in the log (``input_tokens``, ``compact``): the same chain, references and function as the
translator service uses, so a count or a compaction sees exactly what a real request would send."""

from typing import Any

from services.api import validation
from services.api.deps import Gateway
from shared import reasoning_blobs
from shared.config import Deployment
from shared.domain import requests
from shared.errors import InvalidRequest, ModelNotFound, NotFound
from shared.readmodel import conversations, queries
from shared.request_model import ResponseCreateRequest

Doc = dict[str, Any]


def deployment_for(gateway: Gateway, model: str) -> Deployment:
    deployment = gateway.config.deployment(model)
    if deployment is None:
        raise ModelNotFound(model)
    return deployment


async def previous_response(gateway: Gateway, tenant: str, previous_id: str) -> Doc:
    """The stored document named by ``previous_response_id``; it must exist for this tenant."""
    doc = await queries.get_response_doc(gateway.db, tenant=tenant, response_id=previous_id)
    if doc is None:
        raise InvalidRequest(
            f"Previous response with id '{previous_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return doc


async def load_history(gateway: Gateway, tenant: str, request: ResponseCreateRequest) -> list[Doc]:
    """What the request continues, oldest first: its conversation's items, or the stored turns of the
    chain ending at its ``previous_response_id``."""
    validation.check_one_history(request)
    if (conversation_id := request.conversation_id()) is not None:
        return await conversation_history(gateway, tenant, conversation_id)
    if (previous_id := request.previous_response_id) is None:
        return []
    doc = await previous_response(gateway, tenant, previous_id)
    ids = [*doc.get("chain", []), previous_id]
    return await queries.get_chain_docs(gateway.db, tenant=tenant, ids=ids)


async def conversation_history(gateway: Gateway, tenant: str, conversation_id: str) -> list[Doc]:
    """The conversation named by ``conversation`` as a history; it must exist for this tenant."""
    found = await conversations.history(gateway.db, tenant=tenant, conversation_id=conversation_id)
    if found is None:
        raise NotFound(f"Conversation with id '{conversation_id}' not found.", param="conversation")
    return found


async def chat_for(
    gateway: Gateway,
    tenant: str,
    request: ResponseCreateRequest,
    history: list[Doc],
    deployment: Deployment | None,
) -> dict[str, Any]:
    """The Chat Completions body the translator would build for ``request`` after ``history``."""
    wanted = requests.referenced_item_ids(request)
    references = await queries.find_items(gateway.db, tenant=tenant, item_ids=wanted) if wanted else {}
    return requests.build_chat_request(
        request,
        history,
        references=references,
        replay_reasoning=gateway.config.replay_reasoning,
        context_window=deployment.context_window if deployment else None,
        open_reasoning=reasoning_blobs.opener(gateway.master, tenant) if gateway.master else None,
    )

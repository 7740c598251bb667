"""``POST /v1/responses/compact``: the request's backend summarises the conversation into a
``compaction`` item that a later request sends back as input (see shared/domain/compaction.py).

The api calls the backend itself rather than logging a response for the worker: a compaction is one
synchronous call whose result OpenAI neither stores nor streams, so the log would hold events that
no projection reads and no client can retrieve, for the price of two hops. It uses the worker's
routing and backend client functions, so the deployment is addressed exactly as for a response.
"""

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api import translation, validation
from services.api.deps import GatewayDep, TenantDep
from shared import chatclient
from shared.config import Deployment
from shared.domain import compaction, routing, stream
from shared.errors import BackendFailed
from shared.ids import derived_id, new_id

router = APIRouter(prefix="/v1")


@router.post("/responses/compact")
async def compact_response(request: Request, gateway: GatewayDep, tenant: TenantDep) -> object:
    body = validation.parse_request(await request.body(), max_bytes=gateway.settings.max_body_bytes)
    deployment = translation.deployment_for(gateway, body.model)
    history = await translation.load_history(gateway, tenant, body)
    chat = compaction.compaction_chat(await translation.chat_for(gateway, tenant, body, history, deployment))
    response_id = new_id("resp")
    addressed = routing.body_for(chat, deployment, vendor_fields=body.extra_fields())
    summarised = await _complete(addressed, deployment, response_id)
    summary = _text(summarised)
    if not summary:
        raise BackendFailed("The backend returned no summary.")
    conversation = [
        *(item for doc in history for item in doc.get("input_items", [])),
        *(item.model_dump(mode="json", exclude_none=True) for item in body.input_items()),
    ]
    output = compaction.compacted_output(conversation, summary, compaction_id=derived_id("cmp", response_id))
    return JSONResponse(
        {
            "id": response_id,
            "object": "response.compaction",
            "created_at": int(time.time()),
            "output": output,
            "usage": summarised["usage"] or stream.responses_usage({}),
        }
    )


async def _complete(chat: dict[str, Any], deployment: Deployment, response_id: str) -> dict[str, Any]:
    """The backend's whole answer, as the final Response object the stream mapping folds it into."""
    state, _ = stream.start({"id": response_id})
    async with chatclient.new_client() as client:
        async for chunk in chatclient.stream_chat(client, deployment, chat):
            stream.on_chunk(state, chunk)
    return stream.finish(state)[-1]["response"]


def _text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    ).strip()

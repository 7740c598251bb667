"""``POST /v1/responses/compact``: the request's backend summarises the conversation into a
``compaction`` item that a later request sends back as input (see shared/domain/compaction.py).

The chat body is built here from the stored chain, as for a count; the worker runs it through its
pool (``shared/backend_calls.py``) and answers the Response object the backend's stream folds into.
Not logged: a compaction is one synchronous call whose result OpenAI neither stores nor streams, so
the log would hold events that no projection reads and no client can retrieve.
"""

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api import bodies, translation
from services.api.deps import GatewayDep, TenantDep
from shared import backend_calls, subjects
from shared.domain import compaction, routing, stream
from shared.errors import BackendFailed
from shared.ids import derived_id, new_id

router = APIRouter(prefix="/v1")


@router.post("/responses/compact")
async def compact_response(request: Request, gateway: GatewayDep, tenant: TenantDep) -> object:
    body = await bodies.parsed(request, max_bytes=gateway.settings.max_body_bytes)
    routing.served(gateway.config, body.model)
    loaded = await translation.loaded_for(gateway, tenant, body)
    chat = compaction.compaction_chat(translation.chat_for(gateway, tenant, body, loaded))
    response_id = new_id("resp")
    asked = backend_calls.CompletionRequested(
        model=body.model,
        chat=chat,
        truncate=body.truncation == "auto",
        response_id=response_id,
        vendor_fields=list(body.extra_fields()),
    )
    completed = await backend_calls.ask(
        gateway.nc, subjects.BACKEND_COMPLETE, asked, backend_calls.Completed,
        timeout_s=gateway.settings.request_deadline_s,
    )  # fmt: skip
    summarised = completed.response or {}
    summary = _text(summarised)
    if not summary:
        raise BackendFailed("The backend returned no summary.")
    conversation = [
        *(item for doc in loaded.history for item in doc.get("input_items", [])),
        *(item.model_dump(mode="json", exclude_none=True) for item in body.input_items()),
    ]
    output = compaction.compacted_output(conversation, summary, compaction_id=derived_id("cmp", response_id))
    return JSONResponse(
        {
            "id": response_id,
            "object": "response.compaction",
            "created_at": int(time.time()),
            "output": output,
            "usage": summarised.get("usage") or stream.responses_usage({}),
        }
    )


def _text(response: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "")
        for item in response.get("output", [])
        if item["type"] == "message"
        for part in item["content"]
    ).strip()

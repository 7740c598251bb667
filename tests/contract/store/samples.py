"""Events of one response's life, as the api and the worker log them."""

from typing import Any

from shared.events import Event, ResponseDeleted, ResponseRequested, ResponseStreamed
from shared.ids import derived_id
from shared.request_model import ResponseCreateRequest

TENANT = "key_tenant_a"
CREATED_AT = 1_700_000_000


def requested(
    response_id: str,
    *,
    input: Any = "Hello",
    store: bool = True,
    chain: tuple[str, ...] = (),
    background: bool = False,
) -> ResponseRequested:
    return ResponseRequested(
        event_id=derived_id("evt", response_id, "requested"),
        response_id=response_id,
        tenant=TENANT,
        request=ResponseCreateRequest(model="m", input=input, store=store, background=background),
        created_at=CREATED_AT,
        chain=list(chain),
    )


def response(
    response_id: str,
    status: str,
    output: tuple[dict, ...] = (),
    *,
    store: bool = True,
    background: bool = False,
) -> dict[str, Any]:
    return {
        "background": background,
        "id": response_id,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "model": "m",
        "output": list(output),
        "store": store,
    }


def streamed(response_id: str, seq: int, kind: str, payload: dict[str, Any]) -> ResponseStreamed:
    body = {"type": f"response.{kind}", "sequence_number": seq, **payload}
    return ResponseStreamed.of(body, response_id=response_id, tenant=TENANT)


def assistant_message(response_id: str, text: str) -> dict[str, Any]:
    return {
        "id": derived_id("msg", response_id, "out", 0),
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def lifecycle(response_id: str, *, store: bool = True, text: str = "Hi there") -> list[Event]:
    """A whole successful life: requested, created, in progress, an item done, completed."""
    item = assistant_message(response_id, text)
    running = {"response": response(response_id, "in_progress", store=store)}
    done = {"response": response(response_id, "completed", (item,), store=store)}
    return [
        requested(response_id, store=store),
        streamed(response_id, 0, "created", running),
        streamed(response_id, 1, "in_progress", running),
        streamed(response_id, 5, "output_item.done", {"output_index": 0, "item": item}),
        streamed(response_id, 9, "completed", done),
    ]


def deleted(response_id: str) -> ResponseDeleted:
    return ResponseDeleted(
        event_id=derived_id("evt", response_id, "deleted"), response_id=response_id, tenant=TENANT
    )

"""Checks a request must pass before anything is published. Pure: a body in, a model or an error out."""

from typing import TypeVar

import pydantic_core
from pydantic import ValidationError

from services.api.errors import invalid_request_from
from shared.config import GatewayConfig, runnable_tool_types
from shared.domain import builtin_tools, routing, tools
from shared.errors import InvalidRequest
from shared.reasoning_blobs import InvalidEncryptedContent, Open
from shared.request_model import ReasoningItem, ResponseCreateRequest

Request = TypeVar("Request", bound=ResponseCreateRequest)


def parse_request(body: bytes, *, max_bytes: int, model: type[Request] = ResponseCreateRequest) -> Request:
    """The body as ``model``: every endpoint that takes a create request parses it here, so all refuse
    the same things the same way (pydantic's JSON parser also refuses invalid UTF-8 and lone
    surrogate escapes, which no store or backend could take)."""
    if len(body) > max_bytes:
        raise request_too_large(max_bytes)
    if is_blank(body):
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise invalid_request_from(error, body=_parsed(body)) from None


def is_blank(body: bytes) -> bool:
    """Nothing but whitespace: checked without ``strip``'s copy of a body of up to megabytes."""
    return not body or body.isspace()


def request_too_large(max_bytes: int) -> InvalidRequest:
    return InvalidRequest(f"Request body exceeds {max_bytes} bytes.", code="request_too_large")


def _parsed(body: bytes) -> object:
    """The body as JSON, to name the parameter an error points at; None if it is not JSON."""
    try:
        return pydantic_core.from_json(body)
    except ValueError:
        return None


def check_request(request: ResponseCreateRequest, config: GatewayConfig) -> list[str]:
    """Refuse what no service could act on; the built-in tool types dropped by the config (to count)."""
    routing.served(config, request.model)
    if not request.input:  # None, "" or []
        raise InvalidRequest("'input' must not be empty.", param="input", code="empty_input")
    if request.background and not request.store:
        raise InvalidRequest("Background responses must be stored: set 'store' to true.", param="background")
    runnable = runnable_tool_types(config)
    if not builtin_tools.forces_hosted(request.tool_choice, request.tools, runnable=runnable):
        tools.check_tool_choice(request.tool_choice, request.tools)
    dropped = builtin_tools.check(request.tools, runnable=runnable, dropped=config.tools.dropped())
    check_one_history(request)
    if refused := routing.refused_vendor_fields(config, request.model, request.extra_fields()):
        raise InvalidRequest(
            f"Unsupported parameter: '{refused[0]}' is not a field the backend of model "
            f"'{request.model}' accepts (the deployment's extra_fields).",
            param=refused[0],
            code="unsupported_parameter",
        )
    return dropped


def check_encrypted_reasoning(request: ResponseCreateRequest, open_reasoning: Open) -> None:
    """Every reasoning item's ``encrypted_content`` must be this gateway's, for this project: refused
    here with a 400 naming the item, before a stream has begun."""
    for index, item in enumerate(request.input_items()):
        if isinstance(item, ReasoningItem) and item.encrypted_content:
            try:
                open_reasoning(item.encrypted_content)
            except InvalidEncryptedContent:
                raise InvalidEncryptedContent(f"input[{index}].encrypted_content") from None


def check_one_history(request: ResponseCreateRequest) -> None:
    """A turn continues a conversation or a previous response, never both (as OpenAI refuses it)."""
    if request.conversation is not None and request.previous_response_id is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' "
            "or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )

"""Checks a request must pass before anything is published. Pure: a body in, a model or an error out."""

from typing import TypeVar

import pydantic_core
from pydantic import ValidationError

from services.api.errors import invalid_request_from
from shared.config import GatewayConfig
from shared.domain import routing, tools
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest

Request = TypeVar("Request", bound=ResponseCreateRequest)


def parse_request(body: bytes, *, max_bytes: int, model: type[Request] = ResponseCreateRequest) -> Request:
    """The body as ``model``: every endpoint that takes a create request parses it here, so all refuse
    the same things the same way (pydantic's JSON parser also refuses invalid UTF-8 and lone
    surrogate escapes, which no store or backend could take)."""
    if len(body) > max_bytes:
        raise InvalidRequest(f"Request body exceeds {max_bytes} bytes.", code="request_too_large")
    if not body.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise invalid_request_from(error, body=_parsed(body)) from None


def _parsed(body: bytes) -> object:
    """The body as JSON, to name the parameter an error points at; None if it is not JSON."""
    try:
        return pydantic_core.from_json(body)
    except ValueError:
        return None


def check_request(request: ResponseCreateRequest, config: GatewayConfig) -> None:
    routing.served(config, request.model)
    if not request.input:  # None, "" or []
        raise InvalidRequest("'input' must not be empty.", param="input", code="empty_input")
    if request.background and not request.store:
        raise InvalidRequest("Background responses must be stored: set 'store' to true.", param="background")
    tools.check_tool_choice(request.tool_choice, request.tools)

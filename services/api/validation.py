"""Checks a request must pass before anything is published. Pure: a model in, an error out."""

from pydantic import ValidationError

from services.api.errors import invalid_request_from
from shared.config import GatewayConfig
from shared.errors import InvalidRequest, ModelNotFound
from shared.request_model import ResponseCreateRequest


def parse_request(body: bytes, *, max_bytes: int) -> ResponseCreateRequest:
    if len(body) > max_bytes:
        raise InvalidRequest(f"Request body exceeds {max_bytes} bytes.", code="request_too_large")
    if not body.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        return ResponseCreateRequest.model_validate_json(body)
    except ValidationError as error:
        raise invalid_request_from(error) from None


def check_request(request: ResponseCreateRequest, config: GatewayConfig) -> None:
    if config.deployment(request.model) is None:
        raise ModelNotFound(request.model)
    if not request.input:  # None, "" or []
        raise InvalidRequest("'input' must not be empty.", param="input", code="empty_input")
    if request.background and not request.store:
        raise InvalidRequest("Background responses must be stored: set 'store' to true.", param="background")

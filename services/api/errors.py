"""The one place where failures become OpenAI-shaped HTTP errors."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from shared.errors import GatewayError, InvalidRequest

log = logging.getLogger(__name__)


def invalid_request_from(
    error: ValidationError | RequestValidationError, *, body: Any = None
) -> InvalidRequest:
    """The first validation problem, named by its parameter path as OpenAI does (``tools[0].name``).
    ``body`` is the parsed request the locations point into (FastAPI's errors carry their own)."""
    # With unions pydantic reports every branch; the deepest location is the one the client meant.
    first = max(error.errors(), key=lambda e: len(e["loc"]))
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            code="invalid_json",
        )
    if kind == "unstorable":  # shared/storable.py names the parameter itself
        return InvalidRequest(
            f"Invalid '{ctx['param']}': {ctx['reason']}.", param=ctx["param"], code="invalid_value"
        )
    if kind == "unsupported":  # an OpenAI parameter for a feature this gateway does not run
        return InvalidRequest(ctx["reason"], param=ctx["param"], code="unsupported_parameter")
    if isinstance(error, RequestValidationError):
        body = error.body
    loc = [part for part in first["loc"] if part not in ("body", "query", "path")]
    param = _param_path(loc, body, keep_last=kind in ("missing", "extra_forbidden")) or None
    if param is None:
        return InvalidRequest(f"Invalid request body: {first['msg']}.", code="invalid_value")
    if kind == "missing":
        return _missing(param)
    if kind == "union_tag_not_found":
        if isinstance(first["input"], dict):  # an object without its `type`
            return _missing(f"{param}.type")
        return InvalidRequest(
            f"Invalid type for '{param}': expected an object, but got {_json_type(first['input'])} instead.",
            param=param,
            code="invalid_type",
        )
    if kind == "union_tag_invalid":
        param, value, supported = f"{param}.type", repr(ctx["tag"]), ctx["expected_tags"]
        return _invalid_value(param, f"Invalid value: {_shown(value)}. Supported values are: {supported}.")
    if kind in ("literal_error", "enum"):
        shown = _shown(repr(first["input"]))
        return _invalid_value(param, f"Invalid value: {shown}. Supported values are: {ctx['expected']}.")
    reason = ctx["error"] if kind == "value_error" else first["msg"]  # a validator's own words
    return _invalid_value(param, f"Invalid '{param}': {reason}.")


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid_value(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _shown(text: str, limit: int = 80) -> str:
    """A client's value quoted in an error message: a 10 MB value must not come back whole."""
    return text if len(text) <= limit else f"{text[:limit]}..."


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _param_path(loc: list[Any], body: Any, *, keep_last: bool) -> str:
    """``tools[0].name``: pydantic's loc, walked through the body it points into. Parts that are not
    in the body (the names pydantic gives union members, or a union's tag) are left out, except a
    missing field, which is the last part."""
    path, value = "", body
    for index, part in enumerate(loc):
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            path, value = f"{path}[{part}]", value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            path, value = (f"{path}.{part}" if path else part), value[part]
        elif isinstance(part, str) and keep_last and index == len(loc) - 1:
            path = f"{path}.{part}" if path else part
        elif value is None and isinstance(part, str | int) and not path:
            path = str(part)  # no body to walk (a query parameter)
    return path


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, error: GatewayError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return await gateway_error(_, invalid_request_from(error))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
        body = {
            "error": {
                "message": str(error.detail),
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
        return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return await gateway_error(_, GatewayError("The server had an error while processing your request."))

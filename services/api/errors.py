"""The one place where failures become OpenAI-shaped HTTP errors."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from shared.errors import GatewayError, InvalidRequest

log = logging.getLogger(__name__)


def invalid_request_from(error: ValidationError | RequestValidationError) -> InvalidRequest:
    """The first validation problem, named by its parameter path as OpenAI does (``input[0].content``)."""
    # With unions pydantic reports every branch; the deepest location is the one the client meant.
    first = max(error.errors(), key=lambda e: len(e["loc"]))
    if first["type"] == "json_invalid":
        return InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            code="invalid_json",
        )
    loc = [part for part in first["loc"] if part not in ("body", "query", "path")]
    param = _param_path(loc) or None
    if param is None:
        return InvalidRequest(f"Invalid request body: {first['msg']}.", code="invalid_value")
    if first["type"] == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    return InvalidRequest(f"Invalid '{param}': {first['msg']}.", param=param, code="invalid_value")


_BRANCH_NAMES = frozenset({"str", "int", "float", "bool"})


def _param_path(loc: list[object]) -> str:
    """``input[0].content``: pydantic's loc without the names it gives union branches and tags."""
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        after_union_index = index >= 2 and isinstance(loc[index - 1], int) and "union" in str(loc[index - 2])
        if "[" in str(part) or part in _BRANCH_NAMES or after_union_index:
            continue
        path += f".{part}" if path else str(part)
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

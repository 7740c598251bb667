"""One error hierarchy, shaped like OpenAI's ``{"error": {"message", "type", "param", "code"}}``.

    GatewayError                      500 server_error
    ├── InvalidRequest                400 invalid_request_error
    │   └── ContextLengthExceeded     400 invalid_request_error / context_length_exceeded
    ├── AuthenticationFailed          401 authentication_error
    ├── NotFound                      404 invalid_request_error
    ├── Conflict                      409 invalid_request_error
    ├── RateLimited                   429 rate_limit_exceeded
    └── BackendFailed                 (never an HTTP status: the response ends ``failed``)

The API turns these into HTTP responses in one place. Raised after the response was accepted
(the backend refused, the input could not be translated), an error instead becomes the ``error`` of a
failed response, whose ``code`` must be one of the few OpenAI defines: ``failure_code``.
"""

from typing import Any


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = "server_error"
    failure_code = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = None
    failure_code = "invalid_prompt"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = None


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = None


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"
    failure_code = "rate_limit_exceeded"


class BackendFailed(GatewayError):
    """The chat backend could not produce an answer; carried as the failed response's ``error``."""

    status = 502
    code = "server_error"

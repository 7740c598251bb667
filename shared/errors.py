"""One error hierarchy, shaped like OpenAI's ``{"error": {"message", "type", "param", "code"}}``.

    GatewayError                      500 server_error
    ├── InvalidRequest                400 invalid_request_error
    │   ├── ModelNotFound             400 invalid_request_error / model_not_found
    │   ├── ContextLengthExceeded     400 invalid_request_error / context_length_exceeded
    │   └── BackendRejected           400 invalid_request_error: the backend refused the request itself
    ├── AuthenticationFailed          401 authentication_error
    ├── PermissionDenied              403 permission_error
    ├── NotFound                      404 invalid_request_error
    ├── RateLimited                   429 rate_limit_exceeded
    ├── ServiceUnavailable            503 server_error / service_unavailable: retry (the event log is down)
    ├── GatewayTimeout                504 server_error / timeout: no worker answered in time
    └── BackendFailed                 (never an HTTP status: the response ends ``failed``)
        └── BackendUnavailable        429 / 5xx / connect error / timeout: another deployment may serve

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

    def headers(self) -> dict[str, str]:
        """HTTP headers the error's response carries."""
        return {}

    def http_error(self) -> dict[str, Any]:
        """The HTTP answer a later hop gives for this error (``{"status", "error"}``): on the
        ``response.failed`` event of a request refused as the client's, and in a worker's reply."""
        return {"status": self.status, **self.body()}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = None
    failure_code = "invalid_prompt"


class ModelNotFound(InvalidRequest):
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The requested model '{model}' does not exist.", param="model")


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class BackendRejected(InvalidRequest):
    """The backend refused the request as invalid (its 400 or 422): the client's to fix, told in the
    backend's words (scrubbed), as OpenAI would have refused it up front."""


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = None


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"
    failure_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after_s)} if self.retry_after_s is not None else {}


class ServiceUnavailable(GatewayError):
    """A dependency of the gateway itself (the event log) did not answer within its retry budget; the
    client may retry the request as is."""

    status = 503
    code = "service_unavailable"
    RETRY_AFTER_S = 1

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.RETRY_AFTER_S)}


class GatewayTimeout(GatewayError):
    """The worker asked to serve a request over request/reply did not answer in time."""

    status = 504
    code = "timeout"


class BackendFailed(GatewayError):
    """The chat backend could not produce an answer; carried as the failed response's ``error``."""

    status = 502
    code = "server_error"


class BackendUnavailable(BackendFailed):
    """The deployment is overloaded, erring or unreachable; ``reason`` names how (``429``, ``503``,
    ``ConnectError``, ``ReadTimeout``). Retried on another deployment when nothing was streamed yet."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

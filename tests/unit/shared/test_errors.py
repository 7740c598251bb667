"""The error hierarchy (shared/errors.py): each error knows its HTTP status, its OpenAI-shaped body, the
headers it carries and the ``code`` a failed response records."""

import pytest

from shared import errors

# A client-visible error's status, type and default code, as OpenAI answers them.
SHAPES = [
    (errors.GatewayError("m"), 500, "server_error", "server_error"),
    (errors.InvalidRequest("m"), 400, "invalid_request_error", None),
    (errors.ModelNotFound("gpt-x"), 400, "invalid_request_error", "model_not_found"),
    (errors.ContextLengthExceeded("m"), 400, "invalid_request_error", "context_length_exceeded"),
    (errors.BackendRejected("m"), 400, "invalid_request_error", None),
    (errors.AuthenticationFailed("m"), 401, "authentication_error", "invalid_api_key"),
    (errors.PermissionDenied("m"), 403, "permission_error", "permission_denied"),
    (errors.NotFound("m"), 404, "invalid_request_error", None),
    (errors.GatewayTimeout("m"), 504, "server_error", "timeout"),
    (errors.RateLimited("m"), 429, "rate_limit_exceeded", "rate_limit_exceeded"),
    (errors.ServiceUnavailable("m"), 503, "server_error", "service_unavailable"),
]


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"), SHAPES, ids=[type(s[0]).__name__ for s in SHAPES]
)
def test_each_error_has_its_status_and_an_openai_shaped_body(error, status, kind, code):
    assert error.status == status
    body = error.body()
    assert set(body) == {"error"}
    assert body["error"] == {"message": str(error), "type": kind, "param": error.param, "code": code}


def test_param_and_code_given_when_raised_override_the_class_defaults():
    error = errors.InvalidRequest("Bad tools.", param="tools[0].name", code="invalid_value")
    assert error.body()["error"] == {
        "message": "Bad tools.",
        "type": "invalid_request_error",
        "param": "tools[0].name",
        "code": "invalid_value",
    }
    # An instance's code is its own: the class and its other instances keep theirs.
    assert errors.InvalidRequest("other").code is None


def test_model_not_found_names_the_model_and_the_model_parameter():
    body = errors.ModelNotFound("gpt-unknown").body()["error"]
    assert "'gpt-unknown'" in body["message"]
    assert body["param"] == "model"


def test_a_rate_limit_says_when_to_retry_only_when_it_knows():
    assert errors.RateLimited("slow down", retry_after_s=7).headers() == {"retry-after": "7"}
    assert errors.RateLimited("slow down").headers() == {}


def test_an_unavailable_gateway_asks_the_client_to_retry():
    error = errors.ServiceUnavailable("The event log is unavailable.")
    assert error.headers() == {"retry-after": str(errors.ServiceUnavailable.RETRY_AFTER_S)}
    assert errors.ServiceUnavailable.RETRY_AFTER_S > 0


def test_other_errors_carry_no_headers():
    for error, *_ in SHAPES:
        if not isinstance(error, errors.RateLimited | errors.ServiceUnavailable):
            assert error.headers() == {}


@pytest.mark.parametrize(
    ("error", "failure_code"),
    [
        (errors.InvalidRequest("m"), "invalid_prompt"),
        (errors.ContextLengthExceeded("m"), "invalid_prompt"),
        (errors.BackendRejected("m"), "invalid_prompt"),
        (errors.RateLimited("m"), "rate_limit_exceeded"),
        (errors.BackendFailed("m"), "server_error"),
        (errors.BackendUnavailable("m", reason="503"), "server_error"),
        (errors.GatewayError("m"), "server_error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v,
)
def test_a_failed_response_records_one_of_openais_failure_codes(error, failure_code):
    assert error.failure_code == failure_code
    assert failure_code in {"server_error", "rate_limit_exceeded", "invalid_prompt"}


def test_an_unavailable_backend_is_a_backend_failure_that_says_why():
    error = errors.BackendUnavailable("deployment m#1 answered 503", reason="503")
    assert isinstance(error, errors.BackendFailed)
    assert error.reason == "503"
    assert error.message == "deployment m#1 answered 503"


def test_the_invalid_request_family_is_caught_as_one():
    for cls in (errors.ModelNotFound, errors.ContextLengthExceeded, errors.BackendRejected):
        assert issubclass(cls, errors.InvalidRequest)
    for cls in (errors.AuthenticationFailed, errors.NotFound, errors.RateLimited, errors.BackendFailed):
        assert issubclass(cls, errors.GatewayError)
        assert not issubclass(cls, errors.InvalidRequest)

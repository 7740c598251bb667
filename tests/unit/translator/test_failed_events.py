"""The events that end a response the translator could not turn into a chat call (pure)."""

from services.translator.build import SERVER_ERROR, failed_events
from shared.errors import InvalidRequest
from shared.events import ResponseRequested
from shared.request_model import ResponseCreateRequest


def _requested(**fields) -> ResponseRequested:
    request = ResponseCreateRequest(model="m1", input="hi", **fields)
    return ResponseRequested(
        event_id="evt_r", response_id="resp_1", tenant="t", request=request, created_at=7, key_id="key_1"
    )


def test_a_server_error_ends_the_response_failed_from_zero():
    events = failed_events(_requested(), SERVER_ERROR)
    assert [(e.type, e.sequence_number) for e in events] == [
        ("response.created", 0),
        ("response.in_progress", 1),
        ("response.failed", 2),
    ]
    failed = events[-1]
    assert failed.payload["response"]["status"] == "failed"
    assert failed.payload["response"]["error"] == {
        "code": "server_error",
        "message": "The server had an error while processing your request.",
    }
    assert failed.http_error is None  # a non-stream client gets the failed response, as for a backend error
    assert failed.key_id == "key_1"
    assert len({e.event_id for e in events}) == 3


def test_a_background_response_continues_after_its_queued_state():
    events = failed_events(_requested(background=True), SERVER_ERROR)
    assert [e.sequence_number for e in events] == [1, 2, 3]


def test_an_untranslatable_input_carries_the_400_a_client_would_have_had():
    error = InvalidRequest("Unknown compaction item.", param="input")
    http_error = {"status": error.status, **error.body()}
    (*_, failed) = failed_events(_requested(), error, http_error=http_error)
    assert failed.payload["response"]["error"]["code"] == "invalid_prompt"
    assert failed.http_error == http_error

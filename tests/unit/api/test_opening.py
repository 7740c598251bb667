"""What the api logs when a new response's opening events cannot all be logged
(services/api/routes/responses.py), against a stand-in for JetStream: a background response whose
queued state is in the log but whose request is not must not stay queued."""

import json
from types import SimpleNamespace

import pytest
from nats.js.api import PubAck, RawStreamMsg
from nats.js.errors import BadRequestError, NotFoundError

from services.api import planning
from services.api.routes import responses
from shared import subjects
from shared.request_model import ResponseCreateRequest


class Log:
    """Stores what is published, refusing requests; ``has_request``: the request is in the log anyway
    (stored, but its acknowledgement lost)."""

    def __init__(self, *, has_request: bool = False) -> None:
        self.stored: list[tuple[str, dict]] = []
        self.has_request = has_request

    async def publish(
        self, subject: str, data: bytes, *, stream: str, headers: dict, timeout: float
    ) -> PubAck:
        if subject.endswith(".requested"):
            raise BadRequestError(code=400, description="refused")
        self.stored.append((subject, json.loads(data)))
        return PubAck(stream=stream, seq=len(self.stored))

    async def get_last_msg(self, stream: str, subject: str) -> RawStreamMsg:
        if self.has_request and subject.endswith(".requested"):
            return RawStreamMsg(subject=subject, seq=1, data=b"{}")
        raise NotFoundError


def _opening(background: bool) -> list:
    body = ResponseCreateRequest(model="m1", input="hi", background=background)
    previous = planning.previous_turn(None, None)
    return planning.plan_create(body, previous, response_id="resp_1", tenant="t", created_at=1).events


async def test_a_background_response_whose_request_was_refused_ends_failed():
    log = Log()
    with pytest.raises(BadRequestError):
        await responses._log_opening(SimpleNamespace(js=log), _opening(background=True))
    (queued_subject, queued), (failed_subject, failed) = log.stored
    assert queued["type"] == "response.queued" and queued["sequence_number"] == 0
    assert failed_subject == queued_subject == subjects.response_event("resp_1", "response.failed")
    assert failed["type"] == "response.failed" and failed["sequence_number"] == 1
    assert failed["payload"]["response"]["status"] == "failed"
    assert failed["payload"]["response"]["error"]["code"] == "server_error"


async def test_a_request_that_was_stored_after_all_is_left_to_run():
    log = Log(has_request=True)
    with pytest.raises(BadRequestError):
        await responses._log_opening(SimpleNamespace(js=log), _opening(background=True))
    assert [event["type"] for _, event in log.stored] == ["response.queued"]


async def test_a_foreground_request_that_was_refused_logs_nothing():
    log = Log()
    with pytest.raises(BadRequestError):
        await responses._log_opening(SimpleNamespace(js=log), _opening(background=False))
    assert log.stored == []

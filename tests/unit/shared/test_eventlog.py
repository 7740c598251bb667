"""How events are laid on the log's messages (shared/eventlog.py), without a server: small events travel
as themselves and never touch the claim-check bucket; a claim check whose body is gone says so. The
round trip of a large event through NATS Object Store is in tests/integration/test_large_requests.py."""

from types import SimpleNamespace

import pytest
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from shared import eventlog
from shared.events import ResponseDeleted, ResponseRequested
from shared.request_model import ResponseCreateRequest


class NoServer:
    """A JetStream context no small event may use."""


class Empty:
    """A JetStream context whose claim-check bucket holds nothing."""

    async def get_last_msg(self, stream: str, subject: str) -> None:
        raise NotFoundError


def _deleted() -> ResponseDeleted:
    return ResponseDeleted(event_id="evt_d", response_id="resp_1", tenant="t")


async def test_a_small_event_is_its_own_message():
    event = _deleted()
    data, headers = await eventlog._laid_out(NoServer(), event)
    assert headers == {"Nats-Msg-Id": "evt_d"}
    assert await eventlog.decode(NoServer(), RawStreamMsg(data=data, headers=headers)) == event


async def test_decode_takes_a_faststream_message_too():
    event = _deleted()
    delivery = SimpleNamespace(
        raw_message=SimpleNamespace(data=event.model_dump_json().encode(), headers=None)
    )
    assert await eventlog.decode(NoServer(), delivery) == event


def test_the_envelope_of_a_large_event_tells_an_audit_what_it_was():
    request = ResponseCreateRequest(model="m1", input="x" * (eventlog.CLAIM_CHECK_BYTES + 1))
    event = ResponseRequested(
        event_id="evt_r", response_id="resp_2", tenant="t", request=request, created_at=1
    )
    envelope = eventlog._envelope(event, 123)
    assert len(envelope) < 512
    for fact in ('"event_id":"evt_r"', '"response_id":"resp_2"', '"type":"gateway.response.requested"'):
        assert fact.encode() in envelope
    assert b'"claim_check":{"bucket":"EVENT_BODIES","name":"evt_r","bytes":123}' in envelope


async def test_a_claim_check_whose_body_is_gone_is_body_missing():
    missing = RawStreamMsg(data=b"{}", headers={eventlog.CLAIM_CHECK_HEADER: "evt_gone"})
    with pytest.raises(eventlog.BodyMissing, match="evt_gone"):
        await eventlog.decode(Empty(), missing)

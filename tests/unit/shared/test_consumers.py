"""How a consumer settles a message (shared/consumers.py) and what a dead letter holds
(shared/deadletter.py), against stand-ins for a JetStream delivery and context: no servers."""

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import nats.errors
import pytest
from nats.js.api import ConsumerConfig, RawStreamMsg
from nats.js.errors import NotFoundError

from shared import deadletter
from shared.consumers import Redelivery, Transient, settle, update_durable

POLICY = Redelivery(max_deliver=4, first_delay_s=0.5, max_delay_s=3.0)
SUBJECT = "resp.resp_1.requested"


class Delivery:
    """A FastStream NatsMessage as settle sees it: its nats-py message and how it was settled."""

    def __init__(self, delivered: int, headers: dict[str, str] | None = None, *, age_s: float = 0.0) -> None:
        stored = datetime.now(UTC) - timedelta(seconds=age_s)
        meta = SimpleNamespace(num_delivered=delivered, sequence=SimpleNamespace(stream=42), timestamp=stored)
        self.raw_message = SimpleNamespace(
            subject=SUBJECT, data=b'{"x": 1}', headers=headers or {"Nats-Msg-Id": "evt_1"}, metadata=meta
        )
        self.settled: list[tuple] = []
        self.heartbeats = 0
        self.heartbeat = asyncio.Event()

    async def ack(self) -> None:
        self.settled.append(("ack",))

    async def nack(self, delay: float | None = None) -> None:
        self.settled.append(("nack", delay))

    async def reject(self) -> None:
        self.settled.append(("reject",))

    async def in_progress(self) -> None:
        self.heartbeats += 1
        self.heartbeat.set()


class JetStream:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.published: list[dict] = []
        self.fail_with = fail_with

    async def publish(self, subject: str, data: bytes, *, stream: str, headers: dict, timeout: float) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append({"subject": subject, "data": data, "stream": stream, "headers": headers})


def _work(error: Exception | None):
    async def work() -> None:
        if error is not None:
            raise error

    return work


async def _settle(delivered: int, error: Exception | None, js: JetStream | None = None):
    msg, js, failures = Delivery(delivered), js or JetStream(), []

    async def on_failure(reason: str) -> None:
        failures.append(reason)

    await settle(msg, _work(error), js=js, consumer="translator", on_failure=on_failure, policy=POLICY)
    return msg.settled, js.published, failures


async def test_done_work_is_acked():
    assert await _settle(1, None) == ([("ack",)], [], [])


@pytest.mark.parametrize("error", [nats.errors.TimeoutError(), Transient("mongo said later")])
async def test_a_transient_failure_is_redelivered_later_with_a_growing_delay(error):
    for delivered in (1, 2, 3):
        settled, letters, failures = await _settle(delivered, error)
        assert settled == [("nack", POLICY.delay_s(delivered))]
        assert letters == [] and failures == []
    assert [POLICY.delay_s(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_a_transient_failure_on_the_last_delivery_is_dead_lettered_and_fails_the_response():
    settled, letters, failures = await _settle(POLICY.max_deliver, nats.errors.TimeoutError())
    assert settled == [("reject",)]
    (letter,) = letters
    assert letter["headers"][deadletter.REASON].startswith("gave up after 4 deliveries: TimeoutError")
    assert failures == [letter["headers"][deadletter.REASON]]


async def test_a_permanent_failure_is_dead_lettered_at_once_with_the_original():
    settled, letters, failures = await _settle(1, KeyError("name"))
    assert settled == [("reject",)]
    (letter,) = letters
    assert letter["stream"] == deadletter.STREAM
    assert letter["subject"] == f"dlq.translator.{SUBJECT}"
    assert letter["data"] == b'{"x": 1}'
    assert letter["headers"] == {
        "Nats-Msg-Id": "dlq.translator.42",  # the same failure recorded twice keeps one letter
        deadletter.ORIGINAL_MSG_ID: "evt_1",
        deadletter.REASON: "KeyError: 'name'",
        deadletter.CONSUMER: "translator",
        deadletter.ORIGINAL_SUBJECT: SUBJECT,
        deadletter.ORIGINAL_SEQUENCE: "42",
        deadletter.DELIVERIES: "1",
    }
    assert failures == ["KeyError: 'name'"]


async def test_the_message_is_terminated_even_when_dead_lettering_and_failing_it_fail():
    msg = Delivery(1)

    async def on_failure(_: str) -> None:
        raise RuntimeError("the log is gone too")

    broken = JetStream(fail_with=RuntimeError("no"))
    await settle(msg, _work(ValueError("bad")), js=broken, consumer="t", on_failure=on_failure, policy=POLICY)
    assert msg.settled == [("reject",)]


async def test_work_in_hand_is_kept_in_progress_and_no_longer_after():
    msg = Delivery(1)

    async def work() -> None:
        await asyncio.wait_for(msg.heartbeat.wait(), timeout=10)  # done once a heartbeat went out

    await settle(msg, work, js=JetStream(), consumer="t", policy=POLICY, heartbeat_s=0.01)
    assert msg.settled == [("ack",)]
    beats = msg.heartbeats
    await asyncio.sleep(0.05)
    assert msg.heartbeats == beats  # the heartbeat stopped with the work


async def test_a_message_that_waited_longer_than_a_heartbeat_is_kept_in_progress_at_once():
    msg = Delivery(1, age_s=120.0)  # delivered in a burst, its handler began late

    async def work() -> None:
        # Without the immediate heartbeat the next one would come after the 60 s interval.
        await asyncio.wait_for(msg.heartbeat.wait(), timeout=10)

    await settle(msg, work, js=JetStream(), consumer="t", policy=POLICY, heartbeat_s=60)
    assert msg.settled == [("ack",)]


async def test_a_fresh_message_gets_its_first_heartbeat_only_after_one_interval():
    msg = Delivery(1)

    async def work() -> None:
        await asyncio.sleep(0)
        assert msg.heartbeats == 0

    await settle(msg, work, js=JetStream(), consumer="t", policy=POLICY, heartbeat_s=60)
    assert msg.settled == [("ack",)]


async def test_a_message_delivered_again_while_in_hand_is_left_to_its_first_delivery():
    first, again = Delivery(1), Delivery(2)  # the same stream sequence: JetStream's redelivery
    release = asyncio.Event()
    runs: list[str] = []

    async def slow() -> None:
        runs.append("first")
        await release.wait()

    async def duplicate() -> None:
        runs.append("again")

    handling = asyncio.create_task(settle(first, slow, js=JetStream(), consumer="t", policy=POLICY))
    await asyncio.sleep(0)
    await settle(again, duplicate, js=JetStream(), consumer="t", policy=POLICY)
    assert runs == ["first"] and again.settled == []  # neither run nor settled: the first settles it
    await settle(Delivery(2), duplicate, js=JetStream(), consumer="other", policy=POLICY)
    assert runs == ["first", "again"]  # another consumer's delivery of that sequence is its own
    release.set()
    await handling
    assert first.settled == [("ack",)]
    await settle(again, duplicate, js=JetStream(), consumer="t", policy=POLICY)
    assert runs == ["first", "again", "again"] and again.settled == [("ack",)]  # once settled, handled


def test_a_letter_gives_back_the_original_headers_without_its_own():
    headers = {
        "Nats-Msg-Id": "dlq.store.7",
        "Nats-Expected-Stream": "DEADLETTER",
        deadletter.ORIGINAL_MSG_ID: "evt_9",
        deadletter.REASON: "why",
        deadletter.CONSUMER: "store",
        deadletter.ORIGINAL_SUBJECT: "resp.r.state",
        deadletter.ORIGINAL_SEQUENCE: "7",
        deadletter.DELIVERIES: "3",
        "Gateway-Claim-Check": "evt_9",
    }
    letter = deadletter.Letter.of(RawStreamMsg(seq=5, data=b"{}", headers=headers))
    assert (letter.sequence, letter.consumer, letter.original_subject) == (5, "store", "resp.r.state")
    assert (letter.original_sequence, letter.deliveries, letter.reason) == (7, 3, "why")
    assert letter.original_headers() == {"Gateway-Claim-Check": "evt_9"}


class Consumers:
    """consumer_info / add_consumer of one stream, as update_durable uses them."""

    def __init__(self, existing: ConsumerConfig | None) -> None:
        self.existing = existing
        self.added: list[ConsumerConfig] = []

    async def consumer_info(self, stream: str, durable: str) -> SimpleNamespace:
        if self.existing is None:
            raise NotFoundError
        return SimpleNamespace(config=self.existing)

    async def add_consumer(self, stream: str, config: ConsumerConfig) -> None:
        self.added.append(config)


async def test_an_old_durable_gets_the_new_bounds_and_keeps_everything_else():
    old = ConsumerConfig(durable_name="translator", deliver_subject="_INBOX.abc", deliver_group="translator")
    js = Consumers(old)
    await update_durable(js, "translator", ConsumerConfig(max_deliver=6, ack_wait=5.0))
    (updated,) = js.added
    assert (updated.max_deliver, updated.ack_wait) == (6, 5.0)
    assert (updated.deliver_subject, updated.deliver_group) == ("_INBOX.abc", "translator")


async def test_a_durable_already_bounded_or_missing_is_left_alone():
    bounded = Consumers(ConsumerConfig(durable_name="worker", max_deliver=6, ack_wait=5.0))
    await update_durable(bounded, "worker", ConsumerConfig(max_deliver=6, ack_wait=5.0))
    missing = Consumers(None)
    await update_durable(missing, "worker", ConsumerConfig(max_deliver=6))
    assert bounded.added == [] and missing.added == []

"""The subject table is data (shared/topology.py): the docs show it, and every service's subscriptions
and the store's durable filters come from it."""

from pathlib import Path

import pytest

from shared import bus, subjects, topology
from shared.topology import Delivery

DOCS = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"


def test_the_architecture_doc_shows_the_table():
    assert topology.markdown_table() in DOCS.read_text()


def test_each_service_consumes_its_durable_through_one_handler():
    for service in subjects.SERVICES:
        durable = {c.handler for _, c in topology.consumed_by(service) if c.delivery is Delivery.DURABLE}
        assert len(durable) == 1, service


def test_the_store_durable_filters_the_requests_states_deletions_and_conversations():
    assert topology.durable_filters("store") == [
        subjects.ALL_REQUESTED,
        subjects.ALL_STATE,
        subjects.ALL_DELETED,
        subjects.ALL_CONVERSATION_EVENTS,
    ]
    assert topology.durable_filters("worker") == [subjects.ALL_CHAT_CALLS]
    assert topology.durable_filters("api") == []


def test_every_consumer_but_the_apis_watches_has_a_handler_and_every_subject_is_one_to_listen_on():
    for route in topology.ROUTES:
        for consumer in route.consumers:
            assert (consumer.handler is None) == (consumer.delivery is Delivery.WATCH), route.subject
            assert "<" not in topology.listen(route, consumer.service)


class Broker:
    """FastStream's ``NatsBroker.subscriber`` as ``bus.subscribe`` uses it: records each subscription."""

    def __init__(self) -> None:
        self.subscribed: list[tuple[str, dict, object]] = []

    def subscriber(self, subject: str, **options):
        def register(handler):
            self.subscribed.append((subject, options, handler))
            return handler

        return register


def test_a_service_subscribes_its_handlers_where_the_table_says():
    async def chat_call(msg): ...
    async def cancel(msg): ...
    async def complete(msg): ...
    async def count(msg): ...

    broker = Broker()
    handlers = {"chat_call": chat_call, "cancel": cancel, "complete": complete, "count": count}
    in_hand = bus.subscribe(broker, "worker", handlers, concurrency=8)  # type: ignore[arg-type]
    by_subject = {subject: (options, handler) for subject, options, handler in broker.subscribed}
    assert by_subject[subjects.ALL_CHAT_CALLS][1] == in_hand.take
    assert in_hand._handle is chat_call
    assert by_subject[subjects.ALL_CHAT_CALLS][0]["durable"] == "worker"
    # One message at a time through FastStream's dispatch: each is handled in a task of its own.
    assert "max_workers" not in by_subject[subjects.ALL_CHAT_CALLS][0]
    assert by_subject[subjects.ALL_CANCELS] == ({"no_reply": True}, cancel)
    assert by_subject[subjects.BACKEND_COMPLETE][0]["queue"] == "worker"
    assert by_subject[subjects.BACKEND_COUNT][1] is count
    assert subjects.health("worker") in by_subject
    assert len(broker.subscribed) == 5


def test_a_service_the_table_gives_no_durable_is_not_subscribed_as_one():
    broker = Broker()
    with pytest.raises(ValueError, match="no durable consumer"):
        bus.subscribe(broker, "api", {}, concurrency=8)  # type: ignore[arg-type]
    assert broker.subscribed == []  # refused before anything was subscribed

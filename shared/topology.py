"""Which message goes where: every subject, the message it carries, who publishes it and who consumes
it, and how. The one table of it: services subscribe from it (``shared.bus.subscribe``), the store's
durable takes its filter subjects from it, and docs/architecture.md's table is checked against
``markdown_table()`` (tests/unit/shared/test_topology.py).
"""

import enum
from dataclasses import dataclass

from shared import subjects


class Delivery(enum.StrEnum):
    # The service's JetStream durable consumer, shared by its replicas (a deliver group): each event
    # goes to one replica and is acked when handled.
    DURABLE = "durable"
    # Core NATS, every replica hears it; nothing is stored or acked.
    CORE = "core"
    # Core NATS subscribed per response by the api while it follows that response (services/api/watch.py).
    WATCH = "watch"
    # Core NATS request/reply to the service's queue group: one replica answers.
    REQUEST_REPLY = "request/reply"


@dataclass(frozen=True)
class Consumer:
    service: str
    delivery: Delivery
    # The name the service registers its handler under (``bus.subscribe``); None for WATCH.
    handler: str | None = None


@dataclass(frozen=True)
class Route:
    subject: str  # as the docs write it
    listen: str  # what consumers subscribe to; `{service}` is the consuming service
    message: str  # the event or message class, or what the message is
    publisher: str
    consumers: tuple[Consumer, ...]


ROUTES: tuple[Route, ...] = (
    Route(
        "resp.<id>.requested",
        subjects.ALL_REQUESTED,
        "`ResponseRequested`",
        "api",
        (Consumer("translator", Delivery.DURABLE, "requested"), Consumer("store", Delivery.DURABLE, "event")),
    ),
    Route(
        "resp.<id>.call",
        subjects.ALL_CHAT_CALLS,
        "`ChatCallRequested`; `ToolCallsRequested` (a step of a built-in tool loop)",
        "translator; worker (the next step of a tool loop)",
        (Consumer("worker", Delivery.DURABLE, "chat_call"),),
    ),
    Route(
        "resp.<id>.state",
        subjects.ALL_STATE,
        "`ResponseStreamed` whose type is in `STATE_EVENT_TYPES`",
        "worker; the api (`queued`), translator and store's sweeper (`failed`)",
        (Consumer("store", Delivery.DURABLE, "event"), Consumer("api", Delivery.WATCH)),
    ),
    Route(
        "resp.<id>.delta",
        subjects.ALL_DELTAS,
        "every other `ResponseStreamed` (token deltas), or a run of them as one `ResponseDeltas`;"
        " a foreground stream's opening states, as one",
        "worker",
        (Consumer("api", Delivery.WATCH),),
    ),
    Route(
        "stored.resp.<id>.state",
        subjects.stored_states("*"),
        "the log's copy of each state event once stored (the stream's `republish`)",
        "JetStream",
        (Consumer("api", Delivery.WATCH),),
    ),
    Route(
        "resp.<id>.deleted",
        subjects.ALL_DELETED,
        "`ResponseDeleted`",
        "api",
        # The translator forgets the turn it may hold (shared/readmodel/turns.py).
        (Consumer("store", Delivery.DURABLE, "event"), Consumer("translator", Delivery.CORE, "deleted")),
    ),
    Route(
        "resp.<id>.cancel",
        subjects.ALL_CANCELS,
        "`ResponseCancelRequested`",
        "api",
        (Consumer("worker", Delivery.CORE, "cancel"),),
    ),
    Route(
        "conv.<id>.<kind>",
        subjects.ALL_CONVERSATION_EVENTS,
        "`Conversation*` events (created, updated, items added or deleted, deleted)",
        "api",
        (Consumer("store", Delivery.DURABLE, "event"),),
    ),
    Route(
        "notify.projected.<id>",
        subjects.projected("*"),
        "the store's signal (not stored)",
        "store",
        (Consumer("api", Delivery.WATCH),),
    ),
    Route(
        "health.<service>",
        subjects.health("{service}"),
        "a liveness ping",
        "api",
        tuple(Consumer(service, Delivery.REQUEST_REPLY, "health") for service in subjects.SERVICES),
    ),
    Route(
        subjects.BACKEND_COMPLETE,
        subjects.BACKEND_COMPLETE,
        "`CompletionRequested` -> `Completed` (`shared/backend_calls.py`)",
        "api",
        (Consumer("worker", Delivery.REQUEST_REPLY, "complete"),),
    ),
    Route(
        subjects.BACKEND_COUNT,
        subjects.BACKEND_COUNT,
        "`TokenCountRequested` -> `TokensCounted` (`shared/backend_calls.py`)",
        "api",
        (Consumer("worker", Delivery.REQUEST_REPLY, "count"),),
    ),
)


def consumed_by(service: str) -> list[tuple[Route, Consumer]]:
    """What ``service`` consumes, with the subject it listens on filled in for it."""
    return [
        (route, consumer) for route in ROUTES for consumer in route.consumers if consumer.service == service
    ]


def listen(route: Route, service: str) -> str:
    return route.listen.format(service=service)


def durable_filters(service: str) -> list[str]:
    """The filter subjects of ``service``'s durable consumer, in table order."""
    return [listen(r, service) for r, c in consumed_by(service) if c.delivery is Delivery.DURABLE]


def markdown_table() -> str:
    """The table docs/architecture.md shows under "Streams, subjects, consumers"."""
    rows = ["| subject | message | published by | consumed by |", "| --- | --- | --- | --- |"]
    for route in ROUTES:
        consumers = ", ".join(f"{c.service} ({c.delivery})" for c in route.consumers)
        rows.append(f"| `{route.subject}` | {route.message} | {route.publisher} | {consumers} |")
    return "\n".join(rows)

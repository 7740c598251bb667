"""Every NATS subject and stream name, in one place; who publishes and consumes each is the table of
``shared/topology.py``.

One JetStream stream, ``RESPONSES``, holds the log. Each response has its own subjects below
``resp.<response_id>`` (requested, call, state, delta, deleted, cancel), so reading ``resp.<id>.>`` in
order is that response's whole history; a conversation's are below ``conv.<conversation_id>``. Core NATS
(not stored) carries what is only a signal or a request answered at once: ``notify.projected.<id>``,
``health.<service>``, ``backend.*``, and the log's copy of each state event once stored,
``stored.resp.<id>.state``.
"""

STREAM = "RESPONSES"
STREAM_SUBJECTS = ["resp.>", "conv.>"]

_STATE_SUFFIX = "state"
_DELTA_SUFFIX = "delta"


def requested(response_id: str) -> str:
    return f"resp.{response_id}.requested"


def chat_call(response_id: str) -> str:
    return f"resp.{response_id}.call"


def deleted(response_id: str) -> str:
    return f"resp.{response_id}.deleted"


def cancel_requested(response_id: str) -> str:
    return f"resp.{response_id}.cancel"


def response_event(response_id: str, event_type: str) -> str:
    """Where a Responses stream event of ``event_type`` is logged: token deltas apart from state."""
    return response_deltas(response_id) if is_delta(event_type) else f"resp.{response_id}.{_STATE_SUFFIX}"


def response_deltas(response_id: str) -> str:
    """Where a response's deltas are logged, one a message or several (``ResponseDeltas``)."""
    return f"resp.{response_id}.{_DELTA_SUFFIX}"


def response_event_subjects(response_id: str) -> tuple[str, str]:
    """The two concrete subjects of ``response_events``, for lookups that take no wildcard."""
    return f"resp.{response_id}.{_STATE_SUFFIX}", f"resp.{response_id}.{_DELTA_SUFFIX}"


def stored_states(response_id: str) -> str:
    """A response's state events as JetStream republishes them once stored (``REPUBLISH_*``): what
    an answer that waits for the end follows, so that it never tells a client what the log does not
    hold."""
    return f"{_STORED_PREFIX}.resp.{response_id}.{_STATE_SUFFIX}"


def carries_response_event(subject: str) -> bool:
    """Whether a subject matched by ``response_events`` holds a client-facing event."""
    return subject.endswith((f".{_STATE_SUFFIX}", f".{_DELTA_SUFFIX}"))


def response_events(response_id: str) -> str:
    """Everything the client sees of one response: state and deltas, in log order."""
    return f"resp.{response_id}.*"


def conversation_event(conversation_id: str, event_type: str) -> str:
    """Where a conversation event is logged: ``gateway.conversation.created`` → ``conv.<id>.created``."""
    return f"conv.{conversation_id}.{event_type.rsplit('.', 1)[-1]}"


ALL_CONVERSATION_EVENTS = "conv.>"

# The log republishes each state event on core NATS once it is stored (and, in a cluster, replicated),
# under this prefix (``shared/eventlog.ensure_stream``). Deltas are not: a stream shows them as they
# are published, which is the earliest (see services/api/watch.py).
_STORED_PREFIX = "stored"
REPUBLISH_SOURCE = f"resp.*.{_STATE_SUFFIX}"
REPUBLISH_DESTINATION = f"{_STORED_PREFIX}.resp.{{{{wildcard(1)}}}}.{_STATE_SUFFIX}"


# What the store signals on ``projected`` besides a response's status: that it gave up on one of the
# response's events, or that it projected the response's request.
UNSTORED = "unstored"
REQUEST_PROJECTED = "requested"


def projected(response_id: str) -> str:
    return f"notify.projected.{response_id}"


def health(service: str) -> str:
    return f"health.{service}"


# Core request/reply, api -> the worker replicas' queue group (shared/backend_calls.py).
BACKEND_COMPLETE = "backend.complete"
BACKEND_COUNT = "backend.count"


ALL_REQUESTED = "resp.*.requested"
ALL_CHAT_CALLS = "resp.*.call"
ALL_STATE = f"resp.*.{_STATE_SUFFIX}"
ALL_DELTAS = f"resp.*.{_DELTA_SUFFIX}"
ALL_DELETED = "resp.*.deleted"
ALL_CANCELS = "resp.*.cancel"

SERVICES = ("translator", "worker", "store")
# Each of them consumes the log through a durable named after it; the store's is the projection's.
PROJECTION_DURABLE = "store"


def is_delta(event_type: str) -> bool:
    """Whether a stream event of ``event_type`` is a delta (logged on ``resp.<id>.delta``), not a state."""
    return event_type not in STATE_EVENT_TYPES


# The events the projection folds; every other stream event (text, arguments and reasoning
# deltas, part openings) is only for live clients and replay, so the store never receives it.
STATE_EVENT_TYPES = frozenset(
    {
        "response.queued",
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.failed",
        "response.incomplete",
        "response.cancelled",
    }
)

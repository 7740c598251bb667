"""The subjects (shared/subjects.py), by NATS's own matching rules: every event a response logs lands
in the log's stream, on one subject of that response only, which the consumer of its kind filters on;
state and deltas are apart; the signals (projected, health) are core NATS, never stored."""

import pytest

from shared import subjects

RESPONSE, OTHER = "resp_a1", "resp_b2"
DELTA_TYPES = [
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.output_item.added",
]


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` one or more trailing tokens."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


def test_the_matcher_follows_nats():
    assert matches("resp.>", "resp.a.state") and not matches("resp.>", "resp")
    assert matches("resp.*.state", "resp.a.state") and not matches("resp.*.state", "resp.a.b.state")
    assert not matches("resp.*.state", "resp.a.delta")


def _logged_subjects(response_id: str) -> list[str]:
    return [
        subjects.requested(response_id),
        subjects.chat_call(response_id),
        subjects.deleted(response_id),
        subjects.cancel_requested(response_id),
        *subjects.response_event_subjects(response_id),
    ]


def test_every_subject_of_a_response_is_in_the_logs_stream():
    for subject in _logged_subjects(RESPONSE):
        assert any(matches(p, subject) for p in subjects.STREAM_SUBJECTS), subject


def test_a_responses_subjects_are_distinct_and_its_own():
    mine, theirs = _logged_subjects(RESPONSE), _logged_subjects(OTHER)
    assert len(set(mine)) == len(mine)
    assert not set(mine) & set(theirs)
    assert all(RESPONSE in subject for subject in mine)


@pytest.mark.parametrize(
    ("subject_of", "pattern"),
    [
        (subjects.requested, subjects.ALL_REQUESTED),
        (subjects.chat_call, subjects.ALL_CHAT_CALLS),
        (subjects.deleted, subjects.ALL_DELETED),
        (subjects.cancel_requested, subjects.ALL_CANCELS),
        (lambda r: subjects.response_event(r, "response.completed"), subjects.ALL_STATE),
    ],
)
def test_each_kind_is_filtered_by_its_own_pattern_only(subject_of, pattern):
    subject = subject_of(RESPONSE)
    assert matches(pattern, subject)
    others = {subjects.ALL_REQUESTED, subjects.ALL_CHAT_CALLS, subjects.ALL_DELETED, subjects.ALL_CANCELS}
    others |= {subjects.ALL_STATE}
    assert [p for p in others - {pattern} if matches(p, subject)] == []


@pytest.mark.parametrize("event_type", sorted(subjects.STATE_EVENT_TYPES))
def test_state_events_go_to_the_state_subject(event_type):
    state, delta = subjects.response_event_subjects(RESPONSE)
    assert subjects.response_event(RESPONSE, event_type) == state != delta
    assert matches(subjects.ALL_STATE, state)


@pytest.mark.parametrize("event_type", DELTA_TYPES)
def test_every_other_stream_event_goes_to_the_delta_subject_which_the_store_does_not_read(event_type):
    subject = subjects.response_event(RESPONSE, event_type)
    assert subject == subjects.response_event_subjects(RESPONSE)[1]
    assert not matches(subjects.ALL_STATE, subject)


def test_the_terminal_and_opening_states_are_state_events():
    for kind in ("queued", "created", "in_progress", "completed", "failed", "incomplete", "cancelled"):
        assert f"response.{kind}" in subjects.STATE_EVENT_TYPES
    assert not set(DELTA_TYPES) & subjects.STATE_EVENT_TYPES


def test_a_responses_events_are_exactly_its_state_and_deltas():
    pattern = subjects.response_events(RESPONSE)
    for subject in subjects.response_event_subjects(RESPONSE):
        assert matches(pattern, subject) and subjects.carries_response_event(subject)
    for subject in (subjects.requested(RESPONSE), subjects.chat_call(RESPONSE), subjects.deleted(RESPONSE)):
        assert not subjects.carries_response_event(subject)
    assert not any(matches(pattern, s) for s in subjects.response_event_subjects(OTHER))


def test_the_stored_copy_of_a_state_event_is_where_the_log_republishes_it():
    state, delta = subjects.response_event_subjects(RESPONSE)
    assert matches(subjects.REPUBLISH_SOURCE, state) and not matches(subjects.REPUBLISH_SOURCE, delta)
    # The destination names the source's one wildcard, the response id.
    republished = subjects.REPUBLISH_DESTINATION.replace("{{wildcard(1)}}", RESPONSE)
    assert republished == subjects.stored_states(RESPONSE) and subjects.carries_response_event(republished)
    # The copies are core NATS only: the log never stores them again.
    assert not any(matches(pattern, republished) for pattern in subjects.STREAM_SUBJECTS)


def test_signals_are_never_stored_in_the_log():
    signals = [subjects.projected(RESPONSE), *(subjects.health(s) for s in subjects.SERVICES)]
    assert len(set(signals)) == len(signals)
    for signal in signals:
        assert not any(matches(p, signal) for p in subjects.STREAM_SUBJECTS), signal
    assert subjects.projected(RESPONSE) != subjects.projected(OTHER)

"""The one owner of a response's event numbers (``sequence_number``): every service that writes a
stream event takes its number from here.

A response's events are numbered densely from 0 in log order. A background response's log opens with
the api's ``response.queued`` (``QUEUED``); the run's events (created, in progress, deltas, the end)
follow from ``first_of_run``, which the translator hands the worker as ``ChatCallRequested.sequence_start``
(the stream mapping, ``stream.py``, counts on from it). A writer that ends a response another began (a
worker ending a call it cannot run again, the store's sweeper, the api failing a queued response whose
request was not logged, the api's stream ending in an ``error`` event) numbers on from the highest number
logged: ``next_after``. Event ids derive from the response and its number, so two writers of one number
collide in JetStream's duplicate window and only the first is kept.
"""

QUEUED = 0


def first_of_run(*, background: bool) -> int:
    """The number of a run's first event (``response.created``)."""
    return QUEUED + 1 if background else 0


def next_after(last: int | None, *, first: int = 0) -> int:
    """The number after ``last``, the highest one logged or sent; ``first`` when there is none."""
    return first if last is None else last + 1

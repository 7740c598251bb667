"""How long JetStream waits for each delivery of a chat call (the worker consumer's ``backoff``): the
first wait is the configured one, so a dead worker's call moves on as soon as before; later ones grow,
so a call held up in a busy worker is not delivered again every few seconds until its deliveries run
out; NATS needs fewer waits than deliveries."""

from services.worker.handlers import ack_waits


def test_the_first_wait_is_the_configured_one_and_later_ones_grow_to_a_bound():
    assert ack_waits(5.0, 6) == [5.0, 15.0, 45.0, 60.0, 60.0]
    assert ack_waits(2.0, 3) == [2.0, 6.0]


def test_a_short_first_wait_still_gives_a_held_up_call_much_longer_than_fixed_waits():
    waits = ack_waits(2.0, 6)
    assert len(waits) == 5  # NATS requires max_deliver > len(backoff)
    assert sum(waits) > 5 * 2.0 * 10

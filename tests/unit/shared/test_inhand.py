"""How a durable consumer's messages are held (``shared.inhand``): each in a task of its own, so
FastStream's handler returns at once; no more at a time than the limit; at shutdown, those in hand
end before the connection closes while those that come meanwhile are left for another replica; and
a handler's failure that escaped it is logged, its slot given back."""

import asyncio
import logging

import pytest

from shared.inhand import InHand


class Message:
    """A delivered message whose handling ends when the test says."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ends = asyncio.Event()


def in_hand(limit: int, ran: list[str], *, grace_s: float = 5.0) -> InHand:
    async def handle(msg: Message) -> None:
        ran.append(msg.name)
        await msg.ends.wait()

    return InHand(handle, limit=limit, grace_s=grace_s)  # type: ignore[arg-type]


async def test_the_handler_returns_while_its_message_is_handled():
    ran: list[str] = []
    held, message = in_hand(2, ran), Message("a")
    await asyncio.wait_for(held.take(message), timeout=1)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert ran == ["a"] and not message.ends.is_set()
    message.ends.set()
    await held.drain()


async def test_no_more_messages_are_handled_at_once_than_the_limit():
    ran: list[str] = []
    held = in_hand(2, ran)
    a, b, c = Message("a"), Message("b"), Message("c")
    await held.take(a)  # type: ignore[arg-type]
    await held.take(b)  # type: ignore[arg-type]
    third = asyncio.create_task(held.take(c))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert ran == ["a", "b"] and not third.done()  # it waits, its message unsettled, for a slot
    a.ends.set()
    await asyncio.wait_for(third, timeout=1)
    await asyncio.sleep(0)
    assert ran == ["a", "b", "c"]
    b.ends.set()
    c.ends.set()
    await held.drain()


async def test_drain_waits_for_the_messages_in_hand_and_begins_no_new_one():
    ran: list[str] = []
    held = in_hand(4, ran)
    running, late = Message("running"), Message("late")
    await held.take(running)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    draining = asyncio.create_task(held.drain())
    await asyncio.sleep(0.01)
    assert not draining.done()  # the message in hand is not cut off
    await held.take(late)  # type: ignore[arg-type]
    running.ends.set()
    await asyncio.wait_for(draining, timeout=1)
    assert ran == ["running"]  # the late one was left for JetStream to deliver elsewhere


async def test_drain_gives_up_on_what_is_still_in_hand_after_the_grace():
    ran: list[str] = []
    held, stuck = in_hand(1, ran, grace_s=0.05), Message("stuck")
    await held.take(stuck)  # type: ignore[arg-type]
    await asyncio.wait_for(held.drain(), timeout=1)
    assert ran == ["stuck"] and not stuck.ends.is_set()


async def test_a_failure_that_escaped_its_handler_is_logged_and_its_slot_given_back(
    caplog: pytest.LogCaptureFixture,
):
    async def broken(msg: object) -> None:
        raise RuntimeError("the ack could not be sent")

    held = InHand(broken, limit=1, grace_s=1.0)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="shared.inhand"):
        await held.take(Message("a"))  # type: ignore[arg-type]
        await asyncio.wait_for(held.take(Message("b")), timeout=1)  # type: ignore[arg-type]
        await held.drain()
    assert [r.getMessage() for r in caplog.records].count(
        "settling a message failed: RuntimeError('the ack could not be sent')"
    ) == 2

"""How the worker holds its chat calls: each in a task of its own, so FastStream's handler returns at
once; no more at a time than its concurrency; and at shutdown, those in hand end before the
connection closes while those that come meanwhile are left for another replica."""

import asyncio
from typing import Any

from services.worker.handlers import ChatCalls


class Call:
    """A delivered chat call whose run ends when the test says."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ends = asyncio.Event()


def calls(concurrency: int, ran: list[str]) -> ChatCalls:
    held = ChatCalls(
        log=None,
        js=None,
        settings=None,
        backends=None,
        master=None,
        heartbeat_s=1.0,
        executors={},
        max_steps=1,
        concurrency=concurrency,
    )

    async def settled(msg: Any) -> None:
        ran.append(msg.name)
        await msg.ends.wait()

    held._settled = settled
    return held


async def test_the_handler_returns_while_its_call_runs():
    ran: list[str] = []
    held, call = calls(2, ran), Call("a")
    await asyncio.wait_for(held.handle(call), timeout=1)
    await asyncio.sleep(0)
    assert ran == ["a"] and not call.ends.is_set()
    call.ends.set()
    await held.drain()


async def test_no_more_calls_run_at_once_than_the_concurrency():
    ran: list[str] = []
    held = calls(2, ran)
    a, b, c = Call("a"), Call("b"), Call("c")
    await held.handle(a)
    await held.handle(b)
    third = asyncio.create_task(held.handle(c))
    await asyncio.sleep(0.01)
    assert ran == ["a", "b"] and not third.done()  # it waits, its message unsettled, for a slot
    a.ends.set()
    await asyncio.wait_for(third, timeout=1)
    await asyncio.sleep(0)
    assert ran == ["a", "b", "c"]
    b.ends.set()
    c.ends.set()
    await held.drain()


async def test_drain_waits_for_the_calls_in_hand_and_runs_no_new_one():
    ran: list[str] = []
    held = calls(4, ran)
    running, late = Call("running"), Call("late")
    await held.handle(running)
    await asyncio.sleep(0)
    draining = asyncio.create_task(held.drain())
    await asyncio.sleep(0.01)
    assert not draining.done()  # the run in hand is not cut off
    await held.handle(late)
    running.ends.set()
    await asyncio.wait_for(draining, timeout=1)
    assert ran == ["running"]  # the late call was left for JetStream to deliver elsewhere

"""The api's wait for the store's projected signal: a status it waits for, silence, or the store's
word that it gave up on the response (never a 200 for what no GET would find)."""

import json
from dataclasses import dataclass

import pytest

from services.api.watch import NotStored, ResponseWatch
from shared import subjects


@dataclass
class Signal:
    data: bytes


class Signals:
    """A core subscription's ``next_msg`` over signals given in advance, then silence."""

    def __init__(self, *statuses: str) -> None:
        self._pending = [Signal(json.dumps({"status": s}).encode()) for s in statuses]

    async def next_msg(self, timeout: float) -> Signal:
        if not self._pending:
            raise TimeoutError
        return self._pending.pop(0)


def watch(*statuses: str) -> ResponseWatch:
    return ResponseWatch(js=None, response_id="resp_1", events=None, projected=Signals(*statuses))


async def test_the_awaited_status_ends_the_wait_and_others_are_passed_over():
    assert await watch("queued", "completed").projected(statuses={"completed"}, timeout_s=1)


async def test_silence_past_the_timeout_is_false():
    assert not await watch("queued").projected(statuses={"completed"}, timeout_s=0.01)


async def test_the_store_giving_up_is_an_error_not_a_wait():
    with pytest.raises(NotStored) as raised:
        await watch(subjects.UNSTORED).projected(statuses={"completed"}, timeout_s=1)
    assert raised.value.status == 500 and "resp_1" in raised.value.message

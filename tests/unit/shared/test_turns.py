"""The finished turns a translator holds (shared/readmodel/turns.py), without a server."""

from datetime import UTC, datetime, timedelta

import bson

from shared.readmodel.turns import TurnCache, settled

LATER = datetime.now(UTC) + timedelta(days=1)


def turn(response_id: str, *, tenant: str = "t", status: str = "completed", text: str = "hi", **fields):
    return {
        "_id": response_id,
        "tenant": tenant,
        "status": status,
        "input_items": [{"type": "message", "role": "user", "content": text}],
        "response": {"output": []},
        "expires_at": LATER,
        **fields,
    }


def test_only_whole_finished_turns_are_settled():
    assert settled(turn("resp_a"))
    assert not settled(turn("resp_a", status="in_progress"))
    assert not settled({k: v for k, v in turn("resp_a").items() if k != "input_items"})
    assert not settled(None)


def test_held_turns_are_the_tenants_own_finished_and_unexpired_ones():
    cache = TurnCache()
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)  # as pymongo reads it: naive
    cache.keep([turn("resp_a"), turn("resp_b", status="in_progress"), turn("resp_c", expires_at=past)])
    assert list(cache.take("t", ["resp_a", "resp_b", "resp_c", "resp_x"])) == ["resp_a"]
    assert cache.take("other tenant", ["resp_a"]) == {}
    assert len(cache) == 1  # the expired turn went when it was asked for


def test_a_forgotten_turn_is_read_again():
    cache = TurnCache()
    cache.keep([turn("resp_a")])
    cache.forget("resp_a")
    cache.forget("resp_never_held")
    assert cache.take("t", ["resp_a"]) == {}


def test_a_held_turn_has_its_stored_size():
    cache = TurnCache()
    cache.keep([turn("resp_a"), turn("resp_b", status="in_progress")])
    assert cache.size("resp_a") == len(bson.encode(turn("resp_a")))
    assert cache.size("resp_b") is None
    cache.forget("resp_a")
    assert cache.size("resp_a") is None


def test_a_reconnect_drops_everything_held():
    reconnects = [0]
    cache = TurnCache(epoch=lambda: reconnects[0])
    cache.keep([turn("resp_a")])
    reconnects[0] += 1  # deletions may have been missed meanwhile
    assert cache.take("t", ["resp_a"]) == {}
    cache.keep([turn("resp_a")])
    assert list(cache.take("t", ["resp_a"])) == ["resp_a"]


def test_the_least_recently_used_turns_go_first_past_the_bound():
    one = len(bson.encode(turn("resp_0", text="x" * 1000)))
    cache = TurnCache(max_bytes=3 * one)
    cache.keep([turn(f"resp_{i}", text="x" * 1000) for i in range(3)])
    cache.take("t", ["resp_0"])  # used: now the most recent
    cache.keep([turn("resp_3", text="x" * 1000)])
    assert sorted(cache.take("t", [f"resp_{i}" for i in range(4)])) == ["resp_0", "resp_2", "resp_3"]
    cache.keep([turn("resp_huge", text="x" * 4000)])  # larger than the whole bound: never held
    assert cache.take("t", ["resp_huge"]) == {}

import copy
from typing import Any

import pytest

from shared.domain.history import fold_history, fold_turns


def _doc(response_id: str, input_items: list[dict[str, Any]], output: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored projection doc, as the store writes it."""
    return {
        "_id": response_id,
        "tenant": "key_abc",
        "status": "completed",
        "created_at": 1700000000,
        "request": {"model": "gpt-test", "instructions": f"instructions of {response_id}"},
        "chain": [],
        "input_items": input_items,
        "response": {"id": response_id, "status": "completed", "output": output},
    }


def _user(text: str, item_id: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text, "id": item_id}


def _assistant(text: str, item_id: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _call(call_id: str, item_id: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": "lookup",
        "arguments": '{"q":"x"}',
        "status": "completed",
    }


def _reasoning(text: str, item_id: str) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "status": "completed",
    }


TOOL_ROUND_TRIP = [
    # turn 1: the model thinks, says something and calls two tools
    _doc(
        "resp_1",
        [_user("find x", "msg_u1")],
        [
            _reasoning("need lookup", "rs_1"),
            _assistant("Looking.", "msg_a1"),
            _call("call_1", "fc_1"),
            _call("call_2", "fc_2"),
        ],
    ),
    # turn 2: the client sends the tool outputs, the model answers
    _doc(
        "resp_2",
        [
            {"type": "function_call_output", "call_id": "call_1", "output": "x=1", "id": "fco_1"},
            {"type": "function_call_output", "call_id": "call_2", "output": "x=2", "id": "fco_2"},
        ],
        [_assistant("x is 1 or 2", "msg_a2")],
    ),
]


def test_turns_fold_oldest_first_inputs_then_outputs_without_instructions() -> None:
    assert fold_history(TOOL_ROUND_TRIP) == [
        {"role": "user", "content": "find x"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "x=1"},
        {"role": "tool", "tool_call_id": "call_2", "content": "x=2"},
        {"role": "assistant", "content": "x is 1 or 2"},
    ]


def test_reasoning_is_replayed_only_when_asked() -> None:
    replayed = fold_history(TOOL_ROUND_TRIP, replay_reasoning=True)
    assert replayed[1]["reasoning_content"] == "need lookup"
    assert all("reasoning_content" not in m for m in fold_history(TOOL_ROUND_TRIP))


def test_reasoning_of_a_turn_without_an_answer_does_not_leak_into_the_next() -> None:
    history = [
        _doc("resp_1", [_user("a", "msg_u1")], [_reasoning("cut off", "rs_1")]),
        _doc("resp_2", [_user("b", "msg_u2")], [_assistant("B", "msg_a2")]),
    ]
    assert fold_history(history, replay_reasoning=True) == [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "B"},
    ]


def test_function_call_only_turn_has_null_content() -> None:
    history = [_doc("resp_1", [_user("go", "msg_u1")], [_call("call_9", "fc_9")])]
    assert fold_history(history)[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}
        ],
    }


def test_references_resolve_inside_the_chain_and_unresolvable_ones_are_left_out() -> None:
    history = [
        _doc("resp_1", [_user("first", "msg_u1")], [_assistant("one", "msg_a1")]),
        _doc(
            "resp_2",
            [
                {"type": "item_reference", "id": "msg_a1"},
                {"type": "item_reference", "id": "msg_elsewhere"},
                _user("second", "msg_u2"),
            ],
            [],
        ),
    ]
    assert fold_history(history) == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"},
    ]


def test_a_turn_that_failed_before_any_output_contributes_its_input() -> None:
    failed = {**_doc("resp_1", [_user("hi", "msg_u1")], []), "status": "failed", "response": None}
    assert fold_history([failed]) == [{"role": "user", "content": "hi"}]


def test_no_history_no_messages() -> None:
    assert fold_history([]) == []


# fold_turns: a chain's fold continued -------------------------------------------------------------

THIRD = _doc(
    "resp_3",
    # the client sends a call of its own before its question: it joins the last assistant message
    [
        _call("call_3", "fc_3"),
        {"type": "function_call_output", "call_id": "call_3", "output": "y", "id": "fco_3"},
    ],
    [_reasoning("thinking again", "rs_3"), _assistant("done", "msg_a3")],
)


def test_a_fold_continued_with_the_next_turn_is_the_fold_of_the_whole_chain() -> None:
    chain = [*TOOL_ROUND_TRIP, THIRD]
    for replay in (False, True):
        first = fold_turns(chain[:2], replay_reasoning=replay)
        continued = fold_turns(chain, replay_reasoning=replay, after=first)
        assert continued.messages() == fold_history(chain, replay_reasoning=replay)
        assert continued.turn_ids == ("resp_1", "resp_2", "resp_3")
        assert continued.index.keys() == fold_turns(chain).index.keys()


def test_continuing_a_fold_leaves_it_as_it_was() -> None:
    # The next turn's call joins the last assistant message of the fold it continues.
    ends_with_a_call = [_doc("resp_1", [_user("go", "msg_u1")], [_assistant("Calling.", "msg_a1")])]
    first = fold_turns(ends_with_a_call)
    before = copy.deepcopy(first.messages())
    fold_turns([*ends_with_a_call, THIRD], after=first)
    fold_turns([*ends_with_a_call, THIRD], after=first)  # a second answer to the same turn (a fork)
    assert first.messages() == before
    assert "fc_3" not in first.index


def test_only_a_fold_of_the_same_first_turns_is_continued() -> None:
    first = fold_turns(TOOL_ROUND_TRIP)
    with pytest.raises(ValueError):  # resp_1 deleted since
        fold_turns([TOOL_ROUND_TRIP[1], THIRD], after=first)
    with pytest.raises(ValueError):
        fold_turns([*TOOL_ROUND_TRIP, THIRD], replay_reasoning=True, after=first)

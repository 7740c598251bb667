import pytest

from shared.domain import compaction, items
from shared.errors import InvalidRequest
from shared.ids import derived_id


def test_the_summary_round_trips_through_the_item() -> None:
    [item] = compaction.compacted_output([], "the gist", compaction_id="cmp_1")
    assert item == {"id": "cmp_1", "type": "compaction", "encrypted_content": compaction.encode("the gist")}
    assert items.to_messages([item]) == [{"role": "user", "content": compaction.SUMMARY_PREFIX + "the gist"}]


def test_output_keeps_only_the_user_messages_in_order() -> None:
    conversation = [
        {"type": "message", "role": "system", "content": "rules"},
        {"type": "message", "role": "user", "content": "first", "id": "msg_a"},
        {"type": "function_call_output", "call_id": "c", "output": "x"},
        {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        {"type": "compaction", "encrypted_content": compaction.encode("older")},
    ]
    output = compaction.compacted_output(conversation, "s", compaction_id="cmp_1")
    assert output[:2] == [
        {"id": "msg_a", "type": "message", "status": "completed", "role": "user",
         "content": [{"type": "input_text", "text": "first"}]},
        {"id": derived_id("msg", "cmp_1", 1), "type": "message", "status": "completed", "role": "user",
         "content": [{"type": "input_text", "text": "second"}]},
    ]  # fmt: skip
    assert [item["type"] for item in output] == ["message", "message", "compaction"]


def test_the_summary_request_drops_tools_and_asks_last() -> None:
    chat = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{}],
        "tool_choice": "auto",
        "top_p": 0.5,
    }
    assert compaction.compaction_chat(chat) == {
        "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": compaction.PROMPT}],
        "top_p": 0.5,
    }


@pytest.mark.parametrize("content", ["gAAAAABpM0Yj-openai", "rgw-summary-v1:%%%"])
def test_items_it_cannot_read_are_invalid(content: str) -> None:
    with pytest.raises(InvalidRequest):
        items.to_messages([{"type": "compaction", "encrypted_content": content}])


def test_a_lone_surrogate_in_the_summary_is_replaced_not_raised() -> None:
    assert compaction.decode(compaction.encode("a\ud800b")) == "a?b"

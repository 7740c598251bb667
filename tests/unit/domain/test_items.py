"""Responses items → Chat Completions messages (shared/domain/items.py): roles map onto the four chat
roles, a turn's function calls are one assistant message followed by its tool messages, references
resolve, reasoning is replayed only when asked and then onto the assistant turn it preceded, and parts
map onto chat parts (text files inlined, media from tool outputs moved to a user message after them)."""

import base64

import pytest

from shared.domain.items import to_messages
from shared.errors import InvalidRequest


def _text(text: str, kind: str = "input_text") -> dict:
    return {"type": kind, "text": text}


def test_roles_map_onto_the_chat_roles_and_text_parts_join():
    messages = to_messages(
        [
            {"type": "message", "role": "developer", "content": "Be brief."},
            {"type": "message", "role": "system", "content": [_text("Rule "), _text("two")]},
            {"type": "message", "role": "user", "content": [_text("Hi "), _text("there")]},
            {"type": "message", "role": "assistant", "content": [_text("Hello", "output_text")]},
        ]
    )
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Rule two"},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_an_item_without_a_type_is_a_message():
    assert to_messages([{"role": "user", "content": "Hi"}]) == [{"role": "user", "content": "Hi"}]


def test_a_turns_calls_are_one_assistant_message_then_their_outputs():
    messages = to_messages(
        [
            {"type": "message", "role": "assistant", "content": "Let me look."},
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": '{"x":1}'},
            {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": [_text("two")]},
        ]
    )
    assert messages == [
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]


def test_a_call_of_a_namespaced_function_goes_back_under_its_offered_name():
    (message,) = to_messages(
        [{"type": "function_call", "call_id": "c1", "name": "spawn", "namespace": "agents"}]
    )
    assert message["tool_calls"][0]["function"]["name"] == "agents__spawn"


def test_media_in_a_tool_output_follows_the_tool_messages_as_a_user_message():
    image = {"type": "input_image", "image_url": "https://example.com/chart.png"}
    messages = to_messages(
        [
            {"type": "function_call", "call_id": "c1", "name": "chart", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [_text("see chart"), image]},
            {"type": "message", "role": "user", "content": "Explain it."},
        ]
    )
    assert [m["role"] for m in messages] == ["assistant", "tool", "user", "user"]
    assert messages[1]["content"] == "see chart"
    assert messages[2]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}}
    ]


def test_a_reference_resolves_to_the_item_it_names():
    stored = {"msg_1": {"type": "message", "role": "assistant", "content": "Earlier answer"}}
    messages = to_messages([{"type": "item_reference", "id": "msg_1"}], references=stored)
    assert messages == [{"role": "assistant", "content": "Earlier answer"}]


@pytest.mark.parametrize(
    "references",
    [{}, {"msg_1": {"type": "item_reference", "id": "msg_0"}}],
    ids=["missing", "a reference to a reference"],
)
def test_a_reference_that_does_not_resolve_is_refused(references):
    with pytest.raises(InvalidRequest) as refused:
        to_messages([{"type": "item_reference", "id": "msg_1"}], references=references)
    assert refused.value.param == "input"


REASONED = [
    {"type": "message", "role": "user", "content": "Why?"},
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "Because."}],
    },
    {"type": "message", "role": "assistant", "content": "Here is why."},
]


def test_reasoning_is_replayed_only_when_asked_onto_the_assistant_turn_after_it():
    assert "reasoning_content" not in to_messages(REASONED)[-1]
    assert to_messages(REASONED, replay_reasoning=True)[-1] == {
        "role": "assistant",
        "content": "Here is why.",
        "reasoning_content": "Because.",
    }


def test_reasoning_not_followed_by_an_assistant_turn_is_dropped():
    messages = to_messages(
        [*REASONED[:2], {"type": "message", "role": "user", "content": "And?"}], replay_reasoning=True
    )
    assert all("reasoning_content" not in m for m in messages)


def test_items_with_no_chat_form_are_left_out():
    messages = to_messages(
        [
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "message", "role": "user", "content": "Hi"},
        ]
    )
    assert messages == [{"role": "user", "content": "Hi"}]


def test_a_text_file_is_inlined_and_another_file_is_a_file_part():
    text = base64.b64encode(b"name: demo\n").decode()
    parts = [
        {
            "type": "input_file",
            "filename": "config.yaml",
            "file_data": f"data:application/yaml;base64,{text}",
        },
        {"type": "input_file", "filename": "scan.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
    ]
    (message,) = to_messages([{"type": "message", "role": "user", "content": parts}])
    inlined, attached = message["content"]
    assert inlined == {"type": "text", "text": '<file name="config.yaml">\nname: demo\n\n</file>'}
    assert attached == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "scan.pdf"},
    }


@pytest.mark.parametrize(("detail", "sent"), [("auto", None), ("low", "low"), ("original", "high")])
def test_an_images_detail_maps_onto_what_chat_knows(detail, sent):
    part = {"type": "input_image", "image_url": "https://example.com/a.png", "detail": detail}
    (message,) = to_messages([{"type": "message", "role": "user", "content": [_text("Look"), part]}])
    image = message["content"][1]["image_url"]
    assert image.get("detail") == sent


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_image"},
        {"type": "input_file", "filename": "a.txt"},
        {"type": "input_audio", "data": "x"},
    ],
    ids=["image without url", "file without data", "unknown part"],
)
def test_a_part_the_gateway_cannot_send_is_refused(part):
    with pytest.raises(InvalidRequest):
        to_messages([{"type": "message", "role": "user", "content": [_text("x"), part]}])

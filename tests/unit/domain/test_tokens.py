import json

from shared.domain import tokens


def test_text_messages_cost_a_token_per_four_characters_plus_framing() -> None:
    chat = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Tell me a joke."},
        ]
    }
    assert tokens.estimate_chat(chat) == 3 + (4 + 3) + (4 + 4)


def test_parts_tool_calls_reasoning_and_tools_all_count() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "abcdefgh"},
            {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
            {"type": "image_url", "image_url": {"url": "https://x/b.png", "detail": "low"}},
            {"type": "file", "file": {"file_data": "x" * 40}},
        ],
    }
    assistant = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "abcd",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
    }
    assert tokens.estimate_message(message) == 4 + 2 + tokens.IMAGE + tokens.IMAGE_LOW + 10
    assert tokens.estimate_message(assistant) == 4 + 1 + 2 + 1
    tool_cost = -(-len(json.dumps(tools, separators=(",", ":"))) // 4)
    assert tokens.estimate_chat({"messages": [assistant], "tools": tools}) == 3 + tool_cost + 8

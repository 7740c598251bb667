from shared.domain import tokens, truncation


def _user(n: int) -> dict:
    return {"role": "user", "content": f"user {n} " + "x" * 32}  # 40+ characters: 15 tokens with framing


def _assistant(n: int) -> dict:
    return {"role": "assistant", "content": f"assistant {n}"}


def _calls(n: int) -> list[dict]:
    call = {"id": f"call_{n}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"call_{n}", "content": "result"},
    ]


SYSTEM = {"role": "system", "content": "rules"}
MESSAGES = [SYSTEM, _user(1), _assistant(1), _user(2), *_calls(2), _assistant(2), _user(3)]


def _size(messages: list[dict]) -> int:
    return sum(tokens.estimate_message(m) for m in messages)


def test_everything_stays_when_it_fits() -> None:
    assert truncation.drop_oldest_turns(MESSAGES, budget=_size(MESSAGES)) == MESSAGES


def test_whole_oldest_turns_go_and_the_instructions_stay() -> None:
    kept = [SYSTEM, _user(2), *_calls(2), _assistant(2), _user(3)]
    assert truncation.drop_oldest_turns(MESSAGES, budget=_size(kept)) == kept
    # One token less and the turn holding the tool call goes whole: a call never loses its output.
    assert truncation.drop_oldest_turns(MESSAGES, budget=_size(kept) - 1) == [SYSTEM, _user(3)]


def test_the_newest_turn_stays_even_when_too_large() -> None:
    assert truncation.drop_oldest_turns(MESSAGES, budget=0) == [SYSTEM, _user(3)]


def test_fit_leaves_room_for_the_reply_and_the_tools() -> None:
    chat = {"messages": [_user(1), _assistant(1), _user(2)], "max_tokens": 10}
    window = 3 + 10 + _size(chat["messages"])
    assert truncation.fit(chat, context_window=window) == chat
    assert truncation.fit(chat, context_window=window - 1) == {**chat, "messages": [_user(2)]}

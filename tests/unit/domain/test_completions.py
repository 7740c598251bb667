"""A chat completion that was not streamed, as chunks (shared/domain/completions.py): through the one
stream mapping it ends as the same Response as the same answer streamed."""

from typing import Any

import pytest

from deploy.local import mock_llm
from shared.domain import stream
from shared.domain.completions import as_chunks
from shared.domain.requests import build_response
from shared.request_model import ResponseCreateRequest

BODY = {"model": "up", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}
REPLIES = {
    "text": {"content": "Hello there, friend."},
    "reasoning and text": {"reasoning": "Think twice.", "content": "Done."},
    "tool calls": {
        "content": None,
        "tool_calls": [
            {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"id": "call_2", "name": "get_time", "arguments": "{}"},
        ],
    },
    "refusal": {"content": None, "refusal": "I cannot help with that."},
    "cut short": {"content": "Once upon a", "finish_reason": "length"},
    "logprobs": {"content": "Yes.", "logprobs": True},
}


def _final(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    request = ResponseCreateRequest.model_validate(
        {"model": "m", "input": "hi", "reasoning": {"summary": "auto"}}
    )
    state, _ = stream.start(build_response(request, response_id="resp_1", created_at=1), now=lambda: 2.0)
    for chunk in chunks:
        stream.on_chunk(state, chunk)
    return stream.finish(state)[-1]["response"]


@pytest.mark.parametrize("reply", REPLIES.values(), ids=REPLIES.keys())
def test_a_completion_ends_as_the_same_response_as_its_stream(reply):
    streamed = list(mock_llm.chunks(reply, {**BODY, "stream_options": {"include_usage": True}}, "c1", 1))
    whole = as_chunks(mock_llm.completion(reply, BODY, "c1", 1))
    assert _final(whole) == _final(streamed)


def test_its_chunks_end_with_the_usage_as_a_streams_last_chunk_does():
    completion = mock_llm.completion(REPLIES["text"], BODY, "c1", 1)
    chunks = as_chunks(completion)
    assert chunks[-1] == {
        "id": "c1",
        "created": 1,
        "model": "up",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": completion["usage"],
    }
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, "stop"]

"""Issue 3, end to end: each part of the Responses surface through the openai SDK against the running
stack, asserting both the exact chat request the backend received and the exact Responses output (or
event sequence) the client got back."""

import base64
import json

import openai
import pytest

from shared.domain import compaction
from shared.ids import derived_id

# What the backend is asked for: a foreground non-stream response's answer whole, a compaction streamed.
WHOLE = {"model": "mock-1", "stream": False}
CHUNK = {"model": "mock-1", "stream": True, "stream_options": {"include_usage": True}}
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 9,
    "total_tokens": 21,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 3},
}
RESPONSES_USAGE = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 3},
    "total_tokens": 21,
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
WEATHER_CHAT = {
    "type": "function",
    "function": {k: WEATHER[k] for k in ("name", "description", "parameters", "strict")},
}


def upstream(mock_llm) -> dict:
    """The chat body of the last call the backend received."""
    return mock_llm.requests()[-1]["body"]


def create(client: openai.OpenAI, **params) -> dict:
    """POST /v1/responses through the SDK, as the JSON the gateway sent (which the SDK must parse)."""
    raw = client.responses.with_raw_response.create(**params)
    raw.parse()
    return json.loads(raw.text)


def events_of(client: openai.OpenAI, **params) -> tuple[str, list[dict]]:
    """A streamed response's id and its events as sent, the Response snapshots cut down to their status
    (the non-stream tests check whole Response objects)."""
    events = [e.to_dict(mode="json") for e in client.responses.create(stream=True, **params)]
    response_id = events[0]["response"]["id"]
    for event in events:
        if "response" in event:
            assert event["response"]["id"] == response_id
            event["response"] = {"status": event["response"]["status"]}
    return response_id, events


def message(response_id: str, index: int, text: str, *, status: str = "completed", logprobs=()) -> dict:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": list(logprobs)}
    return {
        "id": derived_id("msg", response_id, index),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [part],
    }


def lifecycle(kind: str, seq: int, status: str) -> dict:
    return {"type": kind, "sequence_number": seq, "response": {"status": status}}


def text_events(response_id: str, index: int, text: str, *, seq: int, logprobs=()) -> list[dict]:
    """A message of one text delta, opened and closed: output_item.added ... output_item.done."""
    item_id = derived_id("msg", response_id, index)
    at = {"item_id": item_id, "output_index": index, "content_index": 0}
    empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    full = {**empty, "text": text, "logprobs": list(logprobs)}
    opened = {**message(response_id, index, ""), "status": "in_progress", "content": []}
    kinds = [
        {"type": "response.output_item.added", "output_index": index, "item": opened},
        {"type": "response.content_part.added", **at, "part": empty},
        {"type": "response.output_text.delta", **at, "delta": text, "logprobs": list(logprobs)},
        {"type": "response.output_text.done", **at, "text": text, "logprobs": list(logprobs)},
        {"type": "response.content_part.done", **at, "part": full},
        {
            "type": "response.output_item.done",
            "output_index": index,
            "item": message(response_id, index, text, logprobs=logprobs),
        },
    ]
    return [{**event, "sequence_number": seq + n} for n, event in enumerate(kinds)]


# 1. Input items ----------------------------------------------------------------------------------


def test_input_images_by_url_and_data_with_detail(client, mock_llm):
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
    content = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "high"},
        {"type": "input_image", "image_url": png, "detail": "low"},
        {"type": "input_image", "image_url": "https://example.com/dog.png", "detail": "auto"},
        {"type": "input_image", "image_url": "https://example.com/big.png", "detail": "original"},
    ]
    body = create(client, model="m1", input=[{"role": "user", "content": content}])

    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.png", "detail": "high"},
                    },
                    {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/dog.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/big.png", "detail": "high"},
                    },
                ],
            }
        ],
    }
    assert body["status"] == "completed"
    assert body["output"] == [message(body["id"], 0, "echo: what is this?")]


def test_input_files_inline_text_and_pass_other_files(client, mock_llm):
    text_file = "data:text/plain;base64," + base64.b64encode(b"milk, eggs").decode()
    pdf = "data:application/pdf;base64,JVBERi0xLjQK"
    content = [
        {"type": "input_text", "text": "summarise"},
        {"type": "input_file", "file_data": text_file, "filename": "list.txt"},
        {"type": "input_file", "file_data": pdf, "filename": "doc.pdf"},
        {"type": "input_file", "file_url": "https://example.com/report.pdf"},
    ]
    mock_llm.script({"content": "done"})
    body = create(client, model="m1", input=[{"role": "user", "content": content}])

    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "summarise"},
                    {"type": "text", "text": '<file name="list.txt">\nmilk, eggs\n</file>'},
                    {"type": "file", "file": {"file_data": pdf, "filename": "doc.pdf"}},
                    {"type": "file", "file": {"file_data": "https://example.com/report.pdf"}},
                ],
            }
        ],
    }
    assert body["output"] == [message(body["id"], 0, "done")]


def test_item_references_resolve_from_the_store(client, mock_llm):
    first = client.responses.create(model="m1", input="remember 7")
    [stored_input] = client.responses.input_items.list(first.id).data
    body = create(
        client,
        model="m1",
        input=[
            {"type": "item_reference", "id": stored_input.id},
            {"type": "item_reference", "id": first.output[0].id},
            {"role": "user", "content": "which number?"},
        ],
    )
    assert upstream(mock_llm)["messages"] == [
        {"role": "user", "content": "remember 7"},
        {"role": "assistant", "content": "echo: remember 7"},
        {"role": "user", "content": "which number?"},
    ]
    assert body["output"] == [message(body["id"], 0, "echo: which number?")]

    calls = len(mock_llm.requests())
    dangling = [{"type": "item_reference", "id": "msg_nowhere"}]
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="m1", input=dangling)
    assert err.value.body["type"] == "invalid_request_error" and "msg_nowhere" in err.value.message
    # A stream has begun by the time the translator sees the problem: it ends failed.
    streamed = list(client.responses.create(model="m1", input=dangling, stream=True))
    assert streamed[-1].type == "response.failed" and streamed[-1].response.error.code == "invalid_prompt"
    assert len(mock_llm.requests()) == calls  # never reached the backend


# 2. Tools ----------------------------------------------------------------------------------------

HOSTED_TOOLS = [
    {"type": "web_search"},
    {"type": "file_search", "vector_store_ids": ["vs_1"]},
    {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com",
        "require_approval": "never",
    },
    {"type": "code_interpreter", "container": {"type": "auto"}},
    {"type": "custom", "name": "grammar"},
]
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {}},
    "strict": False,
}
TIME_CHAT = {
    "type": "function",
    "function": {"name": "get_time", "parameters": TIME["parameters"], "strict": False},
}


@pytest.mark.parametrize(
    ("tool_choice", "chat_choice", "chat_tools"),
    [
        ("auto", "auto", [WEATHER_CHAT, TIME_CHAT]),
        ("none", "none", [WEATHER_CHAT, TIME_CHAT]),
        ("required", "required", [WEATHER_CHAT, TIME_CHAT]),
        (
            {"type": "function", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
            [WEATHER_CHAT, TIME_CHAT],
        ),
        (
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "get_time"}],
            },
            "required",
            [TIME_CHAT],
        ),
    ],
)
def test_function_tools_and_tool_choice_hosted_tools_not_forwarded(
    client, mock_llm, tool_choice, chat_choice, chat_tools
):
    body = create(
        client,
        model="m1",
        input="hi",
        tools=[WEATHER, TIME, *HOSTED_TOOLS],
        tool_choice=tool_choice,
        parallel_tool_calls=False,
        max_tool_calls=3,
    )
    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": chat_tools,
        "tool_choice": chat_choice,
        "parallel_tool_calls": False,
    }
    assert body["status"] == "completed"
    assert body["tools"] == [WEATHER, {"description": None, **TIME}, *HOSTED_TOOLS]
    assert body["tool_choice"] == tool_choice
    assert body["parallel_tool_calls"] is False and body["max_tool_calls"] == 3


def test_only_hosted_tools_sends_no_tools(client, mock_llm):
    body = create(client, model="m1", input="search", tools=HOSTED_TOOLS)
    assert upstream(mock_llm) == {**WHOLE, "messages": [{"role": "user", "content": "search"}]}
    assert body["status"] == "completed" and body["tools"] == HOSTED_TOOLS


def test_chat_completions_shaped_tools_are_accepted_and_echoed_in_the_responses_form(client, mock_llm):
    # Clients ported from Chat Completions nest the function; the SDK sends whatever dict it is given.
    body = create(
        client,
        model="m1",
        input="hi",
        tools=[WEATHER_CHAT, {"type": "function", "function": {"name": "get_time"}}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [WEATHER_CHAT, {"type": "function", "function": {"name": "get_time"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": True,
    }
    get_time = {
        "type": "function",
        "name": "get_time",
        "description": None,
        "parameters": None,
        "strict": True,
    }
    assert body["tools"] == [WEATHER, get_time]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert client.responses.retrieve(body["id"]).to_dict(mode="json")["tools"] == body["tools"]


def test_max_tool_calls_never_cuts_function_calls(client, mock_llm):
    # OpenAI counts built-in tool calls only; function calls are the client's to run.
    calls = [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"id": "call_2", "name": "get_time", "arguments": "{}"},
    ]
    mock_llm.script({"tool_calls": calls, "finish_reason": "tool_calls"})
    body = create(client, model="m1", input="both", tools=[WEATHER, TIME], max_tool_calls=1)
    assert [(o["call_id"], o["name"]) for o in body["output"]] == [
        ("call_1", "get_weather"),
        ("call_2", "get_time"),
    ]
    assert body["max_tool_calls"] == 1


@pytest.mark.parametrize(
    ("requested", "reported", "forwarded", "echoed"),
    [
        ("priority", None, "priority", "priority"),  # the mock reports the tier asked for, as OpenAI does
        ("flex", "default", "flex", "default"),  # the backend served another tier: that one is reported
        ("auto", "default", "auto", "default"),
        (None, None, None, "default"),
    ],
)
def test_service_tier_is_forwarded_and_the_tier_that_served_is_echoed(
    client, mock_llm, requested, reported, forwarded, echoed
):
    if reported:
        mock_llm.script({"content": "served", "service_tier": reported})
    body = create(client, model="m1", input="hi", **({"service_tier": requested} if requested else {}))
    assert upstream(mock_llm).get("service_tier") == forwarded
    assert body["service_tier"] == echoed
    assert client.responses.retrieve(body["id"]).service_tier == echoed


# 3. Function-call output -------------------------------------------------------------------------


def function_call(response_id: str, index: int, call_id: str, arguments: str, status="completed") -> dict:
    return {
        "id": derived_id("fc", response_id, index),
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": "get_weather",
    }


def test_one_function_call_round_trip(client, mock_llm):
    mock_llm.script(
        {"tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}]}
    )
    first = create(client, model="m1", input="weather in Paris?", tools=[WEATHER])
    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [WEATHER_CHAT],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    assert first["status"] == "completed"
    assert first["output"] == [function_call(first["id"], 0, "call_1", '{"city":"Paris"}')]

    mock_llm.script({"content": "21 C in Paris."})
    second = create(
        client,
        model="m1",
        input=[{"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c":21}'}],
        previous_response_id=first["id"],
        tools=[WEATHER],
    )
    assert upstream(mock_llm)["messages"] == [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c":21}'},
    ]
    assert second["output"] == [message(second["id"], 0, "21 C in Paris.")]


def test_parallel_function_calls_stream_then_round_trip(client, mock_llm):
    paris, rome = '{"city":"Paris"}', '{"city":"Rome"}'
    mock_llm.script(
        {
            "tool_calls": [
                {"id": "call_a", "name": "get_weather", "arguments": paris},
                {"id": "call_b", "name": "get_weather", "arguments": rome},
            ]
        }
    )
    response_id, events = events_of(client, model="m1", input="Paris and Rome?", tools=[WEATHER])
    at0 = {"item_id": derived_id("fc", response_id, 0), "output_index": 0}
    at1 = {"item_id": derived_id("fc", response_id, 1), "output_index": 1}
    opened = [function_call(response_id, i, c, "", "in_progress") for i, c in ((0, "call_a"), (1, "call_b"))]
    expected = [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": opened[0]},
        {"type": "response.function_call_arguments.delta", "sequence_number": 3, **at0,
         "delta": '{"city":'},
        {"type": "response.function_call_arguments.delta", "sequence_number": 4, **at0,
         "delta": '"Paris"}'},
        {"type": "response.output_item.added", "sequence_number": 5, "output_index": 1, "item": opened[1]},
        {"type": "response.function_call_arguments.delta", "sequence_number": 6, **at1,
         "delta": '{"city"'},
        {"type": "response.function_call_arguments.delta", "sequence_number": 7, **at1,
         "delta": ':"Rome"}'},
        {"type": "response.function_call_arguments.done", "sequence_number": 8, **at0,
         "name": "get_weather", "arguments": paris},
        {"type": "response.output_item.done", "sequence_number": 9, "output_index": 0,
         "item": function_call(response_id, 0, "call_a", paris)},
        {"type": "response.function_call_arguments.done", "sequence_number": 10, **at1,
         "name": "get_weather", "arguments": rome},
        {"type": "response.output_item.done", "sequence_number": 11, "output_index": 1,
         "item": function_call(response_id, 1, "call_b", rome)},
        lifecycle("response.completed", 12, "completed"),
    ]  # fmt: skip
    assert events == expected
    final = client.responses.retrieve(response_id).to_dict(mode="json")
    assert final["output"] == [
        function_call(response_id, 0, "call_a", paris),
        function_call(response_id, 1, "call_b", rome),
    ]

    mock_llm.script({"content": "Both sunny."})
    outputs = [
        {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_b", "output": "sunny"},
    ]
    answer = create(client, model="m1", input=outputs, previous_response_id=response_id, tools=[WEATHER])
    calls = [
        {"id": c, "type": "function", "function": {"name": "get_weather", "arguments": a}}
        for c, a in (("call_a", paris), ("call_b", rome))
    ]
    assert upstream(mock_llm)["messages"] == [
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "sunny"},
    ]
    assert answer["output"] == [message(answer["id"], 0, "Both sunny.")]


# 4. Reasoning ------------------------------------------------------------------------------------


def reasoning_item(response_id: str, text: str, status: str = "completed") -> dict:
    content = [{"type": "reasoning_text", "text": text}] if text else []
    return {"id": derived_id("rs", response_id, 0), "type": "reasoning", "summary": [], "content": content,
            "status": status}  # fmt: skip


def test_reasoning_comes_first_counts_in_usage_and_is_not_replayed(client, mock_llm):
    mock_llm.script({"reasoning": "Think: 6*7.", "content": "42", "usage": USAGE})
    body = create(client, model="m1", input="6 times 7?", reasoning={"effort": "high"})
    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [{"role": "user", "content": "6 times 7?"}],
        "reasoning_effort": "high",
    }
    assert body["output"] == [reasoning_item(body["id"], "Think: 6*7."), message(body["id"], 1, "42")]
    assert body["usage"] == RESPONSES_USAGE
    assert body["reasoning"] == {"effort": "high", "summary": None}

    create(client, model="m1", input="and 6*8?", previous_response_id=body["id"])
    assert upstream(mock_llm)["messages"] == [
        {"role": "user", "content": "6 times 7?"},
        {"role": "assistant", "content": "42"},  # no reasoning_content: replay_reasoning is off
        {"role": "user", "content": "and 6*8?"},
    ]


def test_reasoning_stream_events(client, mock_llm):
    mock_llm.script({"reasoning": "Think: 6*7.", "content": "42", "chunk_chars": 100})
    response_id, events = events_of(client, model="m1", input="6 times 7?")
    rs = derived_id("rs", response_id, 0)
    at = {"item_id": rs, "output_index": 0, "content_index": 0}
    part = {"type": "reasoning_text", "text": "Think: 6*7."}
    expected = [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
         "item": reasoning_item(response_id, "", "in_progress")},
        {"type": "response.content_part.added", "sequence_number": 3, **at, "part": {**part, "text": ""}},
        {"type": "response.reasoning_text.delta", "sequence_number": 4, **at, "delta": "Think: 6*7."},
        {"type": "response.reasoning_text.done", "sequence_number": 5, **at, "text": "Think: 6*7."},
        {"type": "response.content_part.done", "sequence_number": 6, **at, "part": part},
        {"type": "response.output_item.done", "sequence_number": 7, "output_index": 0,
         "item": reasoning_item(response_id, "Think: 6*7.")},
        *text_events(response_id, 1, "42", seq=8),
        lifecycle("response.completed", 14, "completed"),
    ]  # fmt: skip
    assert events == expected


# 5. Structured output ----------------------------------------------------------------------------

PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.mark.parametrize(
    ("text", "response_format", "echoed"),
    [
        (
            {"format": {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True},
             "verbosity": "low"},
            {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}},
            {"format": {"type": "json_schema", "name": "person", "schema": PERSON, "strict": True,
                        "description": None}, "verbosity": "low"},
        ),
        ({"format": {"type": "json_object"}}, {"type": "json_object"},
         {"format": {"type": "json_object"}, "verbosity": "medium"}),
        ({"format": {"type": "text"}}, None, {"format": {"type": "text"}, "verbosity": "medium"}),
    ],
)  # fmt: skip
def test_structured_output_maps_to_response_format_and_is_echoed(
    client, mock_llm, text, response_format, echoed
):
    mock_llm.script({"content": '{"name":"Ada"}'})
    body = create(client, model="m1", input="who?", text=text)
    expected = {**WHOLE, "messages": [{"role": "user", "content": "who?"}]}
    if response_format is not None:
        expected["response_format"] = response_format
    assert upstream(mock_llm) == expected
    assert body["text"] == echoed
    assert body["output"] == [message(body["id"], 0, '{"name":"Ada"}')]


# 6. Endings and limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "upstream_model", "limit_param", "finish_reason", "reason"),
    [
        ("m1", "mock-1", "max_tokens", "length", "max_output_tokens"),
        ("m2", "mock-2", "max_completion_tokens", "length", "max_output_tokens"),
        ("m1", "mock-1", "max_tokens", "content_filter", "content_filter"),
    ],
)
def test_length_and_content_filter_end_incomplete(
    client, mock_llm, model, upstream_model, limit_param, finish_reason, reason
):
    mock_llm.script({"content": "Once upon", "finish_reason": finish_reason, "chunk_chars": 100})
    body = create(client, model=model, input="a story", max_output_tokens=5)
    assert upstream(mock_llm) == {
        **WHOLE,
        "model": upstream_model,
        "messages": [{"role": "user", "content": "a story"}],
        limit_param: 5,
    }
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": reason}
    assert body["completed_at"] is None and body["max_output_tokens"] == 5
    assert body["output"] == [message(body["id"], 0, "Once upon", status="incomplete")]

    mock_llm.script({"content": "Once upon", "finish_reason": finish_reason, "chunk_chars": 100})
    response_id, events = events_of(client, model=model, input="a story", max_output_tokens=5)
    closed = text_events(response_id, 0, "Once upon", seq=2)
    closed[-1]["item"]["status"] = "incomplete"
    assert events == [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
        *closed,
        lifecycle("response.incomplete", 8, "incomplete"),
    ]
    assert client.responses.retrieve(response_id).incomplete_details.reason == reason


def test_refusal_is_a_refusal_part(client, mock_llm):
    mock_llm.script({"refusal": "I can't help with that.", "chunk_chars": 100})
    body = create(client, model="m1", input="something bad")
    refusal = {"type": "refusal", "refusal": "I can't help with that."}
    opened_part = {**refusal, "refusal": ""}
    assert body["output"] == [{**message(body["id"], 0, ""), "content": [refusal]}]

    mock_llm.script({"refusal": "I can't help with that.", "chunk_chars": 100})
    response_id, events = events_of(client, model="m1", input="something bad")
    msg = derived_id("msg", response_id, 0)
    at = {"item_id": msg, "output_index": 0, "content_index": 0}
    assert events == [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
         "item": {**message(response_id, 0, ""), "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "sequence_number": 3, **at, "part": opened_part},
        {"type": "response.refusal.delta", "sequence_number": 4, **at, "delta": "I can't help with that."},
        {"type": "response.refusal.done", "sequence_number": 5, **at, "refusal": "I can't help with that."},
        {"type": "response.content_part.done", "sequence_number": 6, **at, "part": refusal},
        {"type": "response.output_item.done", "sequence_number": 7, "output_index": 0,
         "item": {**message(response_id, 0, ""), "content": [refusal]}},
        lifecycle("response.completed", 8, "completed"),
    ]  # fmt: skip


# 7. Logprobs -------------------------------------------------------------------------------------


def test_logprobs_reach_the_text_parts_and_deltas(client, mock_llm):
    token = {"token": "Hi", "logprob": -0.01, "bytes": list(b"Hi")}
    alternatives = [
        {"token": "Hi~0", "logprob": -1.0, "bytes": list(b"Hi~0")},
        {"token": "Hi~1", "logprob": -2.0, "bytes": list(b"Hi~1")},
    ]
    logprobs = [{**token, "top_logprobs": alternatives}]
    params = {"model": "m1", "input": "greet", "top_logprobs": 2, "include": ["message.output_text.logprobs"]}

    mock_llm.script({"content": "Hi", "logprobs": True, "chunk_chars": 100})
    body = create(client, **params)
    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [{"role": "user", "content": "greet"}],
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert body["output"] == [message(body["id"], 0, "Hi", logprobs=logprobs)]
    assert body["top_logprobs"] == 2

    mock_llm.script({"content": "Hi", "logprobs": True, "chunk_chars": 100})
    response_id, events = events_of(client, **params)
    assert events == [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
        *text_events(response_id, 0, "Hi", seq=2, logprobs=logprobs),
        lifecycle("response.completed", 8, "completed"),
    ]


# 8. Usage ----------------------------------------------------------------------------------------


def test_usage_details_are_mapped(client, mock_llm):
    mock_llm.script({"content": "ok", "usage": USAGE})
    body = create(client, model="m1", input="count me")
    assert body["usage"] == RESPONSES_USAGE

    mock_llm.script({"content": "ok", "usage": USAGE})
    final = list(client.responses.create(model="m1", input="count me", stream=True))[-1]
    assert final.response.usage.to_dict(mode="json") == RESPONSES_USAGE


# 9. Vendor fields --------------------------------------------------------------------------------


def test_vendor_fields_and_cache_keys_reach_the_backend(client, mock_llm):
    vendor = {
        "chat_template_kwargs": {"enable_thinking": False},
        "thinking": {"type": "enabled"},
        "caching": {"type": "enabled", "prefix": True},
    }
    body = create(
        client,
        model="m1",
        input="hi",
        prompt_cache_key="cache-1",
        safety_identifier="user-hash-1",
        user="u-1",
        extra_body=vendor,
    )
    assert upstream(mock_llm) == {
        **WHOLE,
        "messages": [{"role": "user", "content": "hi"}],
        "prompt_cache_key": "cache-1",
        "safety_identifier": "user-hash-1",
        "user": "u-1",
        **vendor,
    }
    assert (body["prompt_cache_key"], body["safety_identifier"], body["user"]) == (
        "cache-1",
        "user-hash-1",
        "u-1",
    )
    assert not vendor.keys() & body.keys()  # vendor options are the backend's, not the Response's


# 10. truncation ----------------------------------------------------------------------------------


def _chain(client, model: str, turns: int) -> str:
    previous = None
    for n in range(1, turns + 1):
        # 40 characters: 14 estimated tokens; its echo 46 characters: 16 (shared/domain/tokens.py)
        previous = client.responses.create(
            model=model, input=f"turn {n}: " + "x" * 32, previous_response_id=previous
        ).id
    return previous


def test_truncation_auto_drops_the_oldest_turns_to_fit_the_window(client, mock_llm):
    # The "small" model has a 120-token window: priming 3 + instructions 7 leave 110, and each turn
    # costs 30, so of four earlier turns and the new input (134) the oldest turn goes.
    last = _chain(client, "small", 4)
    turn = [{"role": "user", "content": f"turn {n}: " + "x" * 32} for n in range(1, 5)]
    echo = [{"role": "assistant", "content": f"echo: turn {n}: " + "x" * 32} for n in range(1, 5)]
    history = [m for pair in zip(turn, echo, strict=True) for m in pair]
    new = {"role": "user", "content": "now " + "y" * 36}

    def send(**params) -> dict:
        body = create(
            client, model="small", input=new["content"], instructions="Be brief.", previous_response_id=last,
            **params,
        )  # fmt: skip
        assert body["status"] == "completed"
        return upstream(mock_llm)

    system = {"role": "system", "content": "Be brief."}
    assert send()["messages"] == [system, *history, new]  # disabled (the default) sends everything
    assert send(truncation="auto")["messages"] == [system, *history[2:], new]
    # max_output_tokens is kept free for the reply: 30 more tokens cost another turn
    assert send(truncation="auto", max_output_tokens=30)["messages"] == [system, *history[4:], new]


def test_backend_context_length_error_is_a_400_or_a_failed_stream(client, mock_llm):
    error = {
        "message": "This model's maximum context length is 8192 tokens; you asked for 9000 tokens.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    mock_llm.script({"status": 400, "error": error})
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="m1", input="very long")
    assert raised.value.status_code == 400
    assert raised.value.body == {
        "message": error["message"],
        "type": "invalid_request_error",
        "param": "input",
        "code": "context_length_exceeded",
    }

    mock_llm.script({"status": 400, "error": error})
    response_id, events = events_of(client, model="m1", input="very long")
    assert events == [
        lifecycle("response.created", 0, "in_progress"),
        lifecycle("response.in_progress", 1, "in_progress"),
        lifecycle("response.failed", 2, "failed"),
    ]
    failed = client.responses.retrieve(response_id)
    assert failed.error.to_dict() == {"code": "invalid_prompt", "message": error["message"]}


# 11. input_tokens and compact --------------------------------------------------------------------


def test_input_tokens_are_estimated_without_a_tokenizer(client, mock_llm):
    counted = client.responses.input_tokens.count(
        model="m1", input="Tell me a joke.", instructions="Be brief."
    )
    # priming 3 + "Be brief." (4 + 3) + "Tell me a joke." (4 + 4)
    assert counted.to_dict() == {"object": "response.input_tokens", "input_tokens": 18}
    assert mock_llm.requests() == []  # nothing was generated

    with_tool = client.responses.input_tokens.count(model="m1", input="Tell me a joke.", tools=[WEATHER])
    tools_json = json.dumps([WEATHER_CHAT], separators=(",", ":"))
    assert with_tool.input_tokens == 3 + 8 + -(-len(tools_json) // 4)


def test_input_tokens_use_the_backend_tokenizer_over_the_whole_chain(client, mock_llm):
    first = client.responses.create(model="small", input="hello there world")
    mock_llm.reset()
    counted = client.responses.input_tokens.count(
        model="small", input="Tell me a joke.", previous_response_id=first.id, tools=[WEATHER]
    )
    messages = [
        {"role": "user", "content": "hello there world"},
        {"role": "assistant", "content": "echo: hello there world"},
        {"role": "user", "content": "Tell me a joke."},
    ]
    [tokenize] = mock_llm.requests()
    assert tokenize["path"] == "/tokenize"
    assert tokenize["body"] == {"model": "mock-small", "messages": messages, "tools": [WEATHER_CHAT]}
    assert counted.input_tokens == 3 + 4 + 4  # the mock counts words


def test_input_tokens_errors(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.input_tokens.count(model="nope", input="x")
    assert raised.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.input_tokens.count(model="m1", input="x", previous_response_id="resp_nope")
    assert raised.value.body["code"] == "previous_response_not_found"


def test_compact_summarises_the_chain_and_a_later_request_continues_from_it(client, mock_llm):
    first = client.responses.create(model="m1", input="plan a party")
    [stored_input] = client.responses.input_items.list(first.id).data
    mock_llm.script({"content": "SUMMARY: a party is planned.", "usage": USAGE})
    compacted = client.responses.compact(model="m1", previous_response_id=first.id, input="keep going")

    assert upstream(mock_llm) == {
        **CHUNK,
        "messages": [
            {"role": "user", "content": "plan a party"},
            {"role": "assistant", "content": "echo: plan a party"},
            {"role": "user", "content": "keep going"},
            {"role": "user", "content": compaction.PROMPT},
        ],
    }
    body = compacted.to_dict(mode="json", warnings=False)
    assert body["object"] == "response.compaction" and body["id"].startswith("resp_")
    assert body["usage"] == RESPONSES_USAGE
    assert body["output"] == [
        {"id": stored_input.id, "type": "message", "status": "completed", "role": "user",
         "content": [{"type": "input_text", "text": "plan a party"}]},
        {"id": derived_id("msg", derived_id("cmp", body["id"]), 1), "type": "message", "status": "completed",
         "role": "user", "content": [{"type": "input_text", "text": "keep going"}]},
        {"id": derived_id("cmp", body["id"]), "type": "compaction",
         "encrypted_content": compaction.encode("SUMMARY: a party is planned.")},
    ]  # fmt: skip

    later = create(
        client,
        model="m1",
        input=[*(i.to_dict(warnings=False) for i in compacted.output), {"role": "user", "content": "cake?"}],
    )
    assert upstream(mock_llm)["messages"] == [
        {"role": "user", "content": "plan a party"},
        {"role": "user", "content": "keep going"},
        {"role": "user", "content": compaction.SUMMARY_PREFIX + "SUMMARY: a party is planned."},
        {"role": "user", "content": "cake?"},
    ]
    assert later["output"] == [message(later["id"], 0, "echo: cake?")]


def test_a_foreign_compaction_item_is_a_400(client, mock_llm):
    foreign = {"type": "compaction", "encrypted_content": "gAAAAABpM0Yj-openai-ciphertext"}
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m1", input=[foreign, {"role": "user", "content": "go on"}])
    assert mock_llm.requests() == []

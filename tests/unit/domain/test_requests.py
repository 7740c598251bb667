import base64
from typing import Any

import pytest
from openai.types.responses import Response

from shared.domain.requests import build_chat_request, build_response, referenced_item_ids
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest


def _request(**fields: Any) -> ResponseCreateRequest:
    return ResponseCreateRequest.model_validate({"model": "gpt-test", **fields})


def _chat(history: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return build_chat_request(_request(**fields), history or [])


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# build_response ----------------------------------------------------------------------------------


def test_response_skeleton_has_every_field_openai_returns() -> None:
    response = build_response(_request(input="hi"), response_id="resp_1", created_at=1700000000)

    assert response == {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "status": "in_progress",
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": "gpt-test",
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "top_logprobs": 0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }
    Response.model_validate(response)


def test_response_echoes_the_request_settings() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = _request(
        input="hi",
        instructions="Be brief.",
        temperature=0.2,
        top_p=0.5,
        max_output_tokens=64,
        max_tool_calls=2,
        metadata={"k": "v"},
        user="u1",
        store=False,
        previous_response_id="resp_0",
        tools=[WEATHER, {"type": "web_search"}],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "out", "schema": schema}, "verbosity": "low"},
        reasoning={"effort": "high"},
        top_logprobs=3,
    )

    response = build_response(request, response_id="resp_2", created_at=1)

    assert response["instructions"] == "Be brief."
    assert (response["temperature"], response["top_p"]) == (0.2, 0.5)
    assert (response["max_output_tokens"], response["max_tool_calls"]) == (64, 2)
    assert (response["metadata"], response["user"], response["store"]) == ({"k": "v"}, "u1", False)
    assert response["previous_response_id"] == "resp_0"
    assert response["tools"] == [
        {**WEATHER, "strict": True},
        {"type": "web_search"},
    ]
    assert response["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert response["parallel_tool_calls"] is False
    assert response["text"] == {
        "format": {
            "type": "json_schema",
            "name": "out",
            "schema": schema,
            "description": None,
            "strict": False,
        },
        "verbosity": "low",
    }
    assert response["reasoning"] == {"effort": "high", "summary": None}
    assert response["top_logprobs"] == 3
    parsed = Response.model_validate(response)
    assert parsed.tools[0].type == "function" and parsed.tools[1].type == "web_search"


def test_function_tool_echo_fills_optional_fields_and_keeps_explicit_strict() -> None:
    response = build_response(
        _request(input="x", tools=[{"type": "function", "name": "f", "strict": False}]),
        response_id="resp_3",
        created_at=1,
    )
    assert response["tools"] == [
        {"type": "function", "name": "f", "description": None, "parameters": None, "strict": False}
    ]


# build_chat_request: messages ----------------------------------------------------------------------


def test_string_input_with_instructions() -> None:
    assert _chat(input="Hello", instructions="You are terse.") == {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello"},
        ]
    }


def test_message_list_with_every_role_and_content_form() -> None:
    body = _chat(
        input=[
            {"role": "developer", "content": "dev rules"},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_a",
                "status": "completed",
                "content": [{"type": "output_text", "text": "answer", "annotations": []}],
            },
            {"role": "user", "content": "second"},
        ]
    )

    assert body["messages"] == [
        {"role": "system", "content": "dev rules"},
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},  # text-only parts collapse to a string
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second"},
    ]


def test_images_by_url_and_data_with_detail() -> None:
    data = _data_url("image/png", b"\x89PNG")
    body = _chat(
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "compare"},
                    {"type": "input_image", "image_url": "https://example.com/a.jpg"},
                    {"type": "input_image", "image_url": data, "detail": "low"},
                    {"type": "input_image", "image_url": data, "detail": "original"},
                ],
            }
        ]
    )

    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
        {"type": "image_url", "image_url": {"url": data, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": data, "detail": "high"}},
    ]


def test_files_text_inlined_others_passed_as_file_parts() -> None:
    pdf = _data_url("application/pdf", b"%PDF-1.7")
    body = _chat(
        input=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_file",
                        "filename": "notes.txt",
                        "file_data": _data_url("text/plain", b"hello"),
                    },
                    # raw base64 without a data: header: the filename says it is JSON
                    {
                        "type": "input_file",
                        "filename": "a.json",
                        "file_data": base64.b64encode(b'{"a":1}').decode(),
                    },
                    {"type": "input_file", "filename": "paper.pdf", "file_data": pdf},
                    {"type": "input_file", "file_url": "https://example.com/b.pdf"},
                ],
            }
        ]
    )

    assert body["messages"][0]["content"] == [
        {"type": "text", "text": '<file name="notes.txt">\nhello\n</file>'},
        {"type": "text", "text": '<file name="a.json">\n{"a":1}\n</file>'},
        {"type": "file", "file": {"file_data": pdf, "filename": "paper.pdf"}},
        {"type": "file", "file": {"file_data": "https://example.com/b.pdf"}},
    ]


def test_text_file_that_is_not_utf8_goes_as_a_file_part() -> None:
    blob = _data_url("text/plain", b"\xff\xfe\x00")
    body = _chat(
        input=[{"role": "user", "content": [{"type": "input_file", "filename": "x.txt", "file_data": blob}]}]
    )
    assert body["messages"][0]["content"] == [
        {"type": "file", "file": {"file_data": blob, "filename": "x.txt"}}
    ]


@pytest.mark.parametrize(
    "part",
    [{"type": "input_file", "file_id": "file_1"}, {"type": "input_image", "file_id": "file_1"}],
)
def test_file_ids_are_rejected(part: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as error:
        _chat(input=[{"role": "user", "content": [part]}])
    assert error.value.param == "input"


def test_function_calls_merge_into_one_assistant_message_and_outputs_pair_by_call_id() -> None:
    body = _chat(
        input=[
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {
                "type": "function_call",
                "call_id": "call_2",
                "name": "get_weather",
                "arguments": '{"city":"Rome"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "21C"}],
            },
        ]
    )

    assert body["messages"] == [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
    ]


def test_images_in_tool_outputs_follow_the_tool_messages_as_a_user_message() -> None:
    body = _chat(
        input=[
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "shot", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [
                    {"type": "input_text", "text": "see image"},
                    {"type": "input_image", "image_url": "https://x/1.png"},
                ],
            },
            {"type": "function_call_output", "call_id": "c2", "output": "none"},
            {"role": "user", "content": "describe"},
        ]
    )

    assert [m["role"] for m in body["messages"]] == ["assistant", "tool", "tool", "user", "user"]
    assert body["messages"][1] == {"role": "tool", "tool_call_id": "c1", "content": "see image"}
    assert body["messages"][3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://x/1.png"}}],
    }


REASONING_INPUT = [
    {"role": "user", "content": "2+2?"},
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "add"}],
    },
    {"role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
]


def test_reasoning_items_are_dropped_by_default() -> None:
    assert _chat(input=REASONING_INPUT)["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]


def test_reasoning_items_are_replayed_on_the_next_assistant_message_when_asked() -> None:
    body = build_chat_request(_request(input=REASONING_INPUT), [], replay_reasoning=True)
    assert body["messages"][1] == {"role": "assistant", "content": "4", "reasoning_content": "add"}


def test_hosted_tool_items_given_back_are_not_forwarded() -> None:
    body = _chat(
        input=[
            {"role": "user", "content": "q"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
            {"role": "assistant", "content": "a"},
        ]
    )
    assert body["messages"] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def test_empty_input_without_history_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        _chat(input=[], instructions="only instructions")


# item references ------------------------------------------------------------------------------------


def test_item_references_are_listed_and_resolved() -> None:
    request = _request(
        input=[{"type": "item_reference", "id": "msg_old"}, {"role": "user", "content": "and?"}]
    )
    assert referenced_item_ids(request) == ["msg_old"]

    body = build_chat_request(
        request,
        [],
        references={"msg_old": {"type": "message", "role": "user", "content": "earlier", "id": "msg_old"}},
    )
    assert body["messages"] == [{"role": "user", "content": "earlier"}, {"role": "user", "content": "and?"}]


def test_missing_item_reference_is_invalid() -> None:
    with pytest.raises(InvalidRequest) as error:
        _chat(input=[{"type": "item_reference", "id": "msg_gone"}])
    assert "msg_gone" in error.value.message


# build_chat_request: options ---------------------------------------------------------------------


def test_sampling_and_identity_options_map_and_nulls_are_left_out() -> None:
    body = _chat(
        input="hi",
        temperature=0.3,
        top_p=0.9,
        max_output_tokens=100,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        user="u",
        safety_identifier="sid",
        prompt_cache_key="pck",
        reasoning={"effort": "low", "summary": "auto"},
        metadata={"not": "forwarded"},
    )

    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 100,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "user": "u",
        "safety_identifier": "sid",
        "prompt_cache_key": "pck",
        "reasoning_effort": "low",
    }


def test_vendor_fields_from_extra_body_reach_the_backend_untouched() -> None:
    body = _chat(input="hi", chat_template_kwargs={"enable_thinking": False}, thinking={"type": "disabled"})
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "name": "person", "schema": {"type": "object"}, "strict": True},
            {
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": {"type": "object"}, "strict": True},
            },
        ),
    ],
)
def test_text_format_becomes_response_format(fmt: dict[str, Any], expected: dict[str, Any] | None) -> None:
    body = _chat(input="hi", text={"format": fmt, "verbosity": "high"})
    assert body.get("response_format") == expected
    assert "verbosity" not in body


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {}),
        ({"top_logprobs": 0}, {}),
        ({"top_logprobs": 5}, {"logprobs": True, "top_logprobs": 5}),
        ({"include": ["message.output_text.logprobs"]}, {"logprobs": True}),
        (
            {"include": ["message.output_text.logprobs"], "top_logprobs": 2},
            {"logprobs": True, "top_logprobs": 2},
        ),
    ],
)
def test_logprobs_options(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    body = _chat(input="hi", **fields)
    assert {k: body[k] for k in ("logprobs", "top_logprobs") if k in body} == expected


def test_function_tools_are_forwarded_and_hosted_tools_dropped() -> None:
    body = _chat(
        input="hi",
        tools=[
            {**WEATHER, "strict": True},
            {"type": "web_search"},
            {"type": "file_search", "vector_store_ids": ["v"]},
        ],
        parallel_tool_calls=False,
    )

    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER["parameters"],
                "strict": True,
            },
        }
    ]
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False


def test_only_hosted_tools_means_no_tool_options() -> None:
    body = _chat(input="hi", tools=[{"type": "web_search"}, {"type": "mcp", "server_label": "s"}])
    assert set(body) == {"messages"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        (
            {"type": "function", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: Any) -> None:
    assert _chat(input="hi", tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_allowed_tools_narrows_the_tool_list() -> None:
    body = _chat(
        input="hi",
        tools=[WEATHER, {"type": "function", "name": "get_time"}],
        tool_choice={
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_time"}],
        },
    )
    assert body["tools"] == [{"type": "function", "function": {"name": "get_time"}}]
    assert body["tool_choice"] == "required"


def test_forcing_a_hosted_tool_is_invalid() -> None:
    with pytest.raises(InvalidRequest) as error:
        _chat(input="hi", tools=[WEATHER, {"type": "web_search"}], tool_choice={"type": "web_search_preview"})
    assert error.value.param == "tool_choice"


# with history --------------------------------------------------------------------------------------


def test_current_instructions_replace_those_of_earlier_turns() -> None:
    earlier = {
        "_id": "resp_0",
        "request": {"model": "gpt-test", "instructions": "OLD instructions", "input": "hi"},
        "input_items": [{"type": "message", "role": "user", "content": "hi", "id": "msg_in0"}],
        "response": {
            "id": "resp_0",
            "instructions": "OLD instructions",
            "output": [
                {
                    "id": "msg_out0",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "hello", "annotations": []}],
                }
            ],
        },
    }
    body = _chat([earlier], input="and now?", instructions="NEW instructions", previous_response_id="resp_0")

    assert body["messages"] == [
        {"role": "system", "content": "NEW instructions"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]


def test_a_reference_to_an_item_of_the_chain_resolves_without_the_store() -> None:
    earlier = {
        "input_items": [{"type": "message", "role": "user", "content": "hi", "id": "msg_in0"}],
        "response": {"output": []},
    }
    body = _chat([earlier], input=[{"type": "item_reference", "id": "msg_in0"}])
    assert body["messages"] == [{"role": "user", "content": "hi"}, {"role": "user", "content": "hi"}]

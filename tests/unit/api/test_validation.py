import json

import bson
import pytest

from services.api.routes.input_tokens import TokenCountRequest
from services.api.validation import check_request, parse_request
from shared.config import BuiltinTools, Deployment, GatewayConfig
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest

CONFIG = GatewayConfig(models=[Deployment(name="m", api_base="http://a/v1", model="up")])
MAX_BYTES = 100_000


# Hosted tools the gateway cannot run are refused unless the operator drops them (builtin_tools.py).
DROPPED = dict.fromkeys(["web_search", "file_search", "mcp", "code_interpreter"], "drop")
DROPPING = CONFIG.model_copy(update={"tools": BuiltinTools(unsupported=DROPPED)})


def _parsed(config: GatewayConfig = CONFIG, **fields: object) -> ResponseCreateRequest:
    request = parse_request(json.dumps({"model": "m", "input": "hi", **fields}).encode(), max_bytes=MAX_BYTES)
    check_request(request, config)
    return request


def _error(body: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as err:
        check_request(parse_request(body, max_bytes=MAX_BYTES), CONFIG)
    return err.value


def _field_error(**fields: object) -> InvalidRequest:
    return _error(json.dumps({"model": "m", "input": "hi", **fields}).encode())


def test_valid_request_passes_and_keeps_vendor_fields():
    body = b'{"model": "m", "input": "hi", "chat_template_kwargs": {"x": 1}}'
    request = parse_request(body, max_bytes=1000)
    check_request(request, CONFIG)
    assert request.extra_fields() == {"chat_template_kwargs": {"x": 1}}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{", None, "invalid_json"),
        (b'{"input": "hi"}', "model", "missing_required_parameter"),
        (b'{"model": "x", "input": "hi"}', "model", "model_not_found"),
        (b'{"model": "m", "input": [{"type": "message", "role": "user", "content": 3}]}', "input[0].content",
         "invalid_value"),
        (b'{"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]}',
         "input[0].content[0].text", "missing_required_parameter"),
        (b'{"model": "m", "input": "hi", "top_p": 2}', "top_p", "invalid_value"),
        (b'{"model": "m", "input": "hi", "background": true, "store": false}', "background", None),
    ],
)  # fmt: skip
def test_bad_requests_name_the_parameter(body, param, code):
    error = _error(body)
    assert (error.param, error.code) == (param, code)


# Every case the issue found, and their neighbours: a 400 naming the parameter as OpenAI does.
@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter"),
        ({"tools": [{"type": "function", "function": {"parameters": {}}}]}, "tools[0].function.name",
         "missing_required_parameter"),
        ({"tools": [{"type": "function", "name": ""}]}, "tools[0].name", "invalid_value"),
        ({"tools": [{"name": "f"}]}, "tools[0].type", "missing_required_parameter"),
        ({"tools": [{"type": "teleport"}]}, "tools[0].type", "invalid_value"),
        ({"tools": ["f"]}, "tools[0]", "invalid_type"),
        ({"tools": [{"type": "file_search"}]}, "tools[0].vector_store_ids", "missing_required_parameter"),
        ({"tools": [{"type": "mcp"}]}, "tools[0].server_label", "missing_required_parameter"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.name", "missing_required_parameter"),
        ({"tool_choice": "invalid_choice"}, "tool_choice", "invalid_value"),
        ({"tool_choice": 3}, "tool_choice", "invalid_type"),
        ({"tool_choice": {"type": "allowed_tools", "mode": "sometimes", "tools": []}}, "tool_choice.mode",
         "invalid_value"),
        ({"tool_choice": {"type": "function", "name": "absent"}}, "tool_choice", None),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice", None),
        ({"text": {"format": "x"}}, "text.format", "invalid_type"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type", "invalid_value"),
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name",
         "missing_required_parameter"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema",
         "missing_required_parameter"),
        ({"text": {"verbosity": "loud"}}, "text.verbosity", "invalid_value"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort", "invalid_value"),
        ({"reasoning": {"summary": "short"}}, "reasoning.summary", "invalid_value"),
        ({"include": ["everything"]}, "include[0]", "invalid_value"),
        ({"service_tier": "gold"}, "service_tier", "invalid_value"),
        ({"truncation": "middle"}, "truncation", "invalid_value"),
        ({"metadata": {f"k{n}": "v" for n in range(17)}}, "metadata", "invalid_value"),
        ({"metadata": {"k" * 65: "v"}}, "metadata." + "k" * 65, "invalid_value"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k", "invalid_value"),
        ({"metadata": {"a\u0000b": "v"}}, "metadata.a\\u0000b", "invalid_value"),
        ({"max_output_tokens": 2**63}, "max_output_tokens", "invalid_value"),
        ({"max_output_tokens": 2**31}, "max_output_tokens", "invalid_value"),
        ({"max_output_tokens": 0}, "max_output_tokens", "invalid_value"),
        ({"max_tool_calls": 2**40}, "max_tool_calls", "invalid_value"),
        ({"top_logprobs": 21}, "top_logprobs", "invalid_value"),
        ({"vendor": {"seed": 2**70}}, "vendor.seed", "invalid_value"),
        ({"vendor": [1, -(2**63) - 1]}, "vendor[1]", "invalid_value"),
        ({"vendor": {"$where": "1"}}, "vendor.$where", "invalid_value"),
        ({"$set": {"a": 1}}, "$set", "invalid_value"),
        ({"tools": [{"type": "function", "name": "f", "parameters": {"maximum": 2**64}}]},
         "tools[0].parameters.maximum", "invalid_value"),
        ({"input": [{"type": "teleport"}]}, "input[0].type", "invalid_value"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id",
         "missing_required_parameter"),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output",
         "missing_required_parameter"),
        ({"input": [{"role": "user", "content": [{"type": "input_video"}]}]}, "input[0].content[0].type",
         "invalid_value"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].status",
         "missing_required_parameter"),
        ({"input": [{"type": "reasoning", "summary": [{"text": "x"}]}]}, "input[0].summary[0].type",
         "missing_required_parameter"),
        ({"input": [{"role": "user", "content": "hi", "status": "done"}]}, "input[0].status",
         "invalid_value"),
        ({"stream_options": {"include_obfuscation": "maybe"}}, "stream_options.include_obfuscation",
         "invalid_value"),
    ],
)  # fmt: skip
def test_hostile_fields_are_refused_naming_the_parameter(fields, param, code):
    error = _field_error(**fields)
    assert (error.param, error.code) == (param, code), error.message
    assert error.message and error.status == 400


def test_non_finite_numbers_and_deep_nesting_are_refused():
    # Python's JSON parsers read these; no MongoDB document may hold them as sent.
    for body in (b'{"model": "m", "input": "hi", "v": NaN}', b'{"model": "m", "input": "hi", "v": 1e400}',
                 b'{"model": "m", "input": "hi", "temperature": Infinity}'):  # fmt: skip
        assert _error(body).code == "invalid_value"
    deep = {"model": "m", "input": "hi", "v": 1}
    node = deep
    for _ in range(40):
        node["v"] = {"v": 1}
        node = node["v"]
    assert _error(json.dumps(deep).encode()).param.startswith("v.v.v")


def test_lone_surrogates_and_invalid_utf8_are_refused():
    for body in (b'{"model": "m", "input": "\\ud800"}', b'{"model": "m", "input": "a\xff"}',
                 b'{"model": "m", "input": "hi", "metadata": {"\\udfff": "v"}}'):  # fmt: skip
        assert _error(body).code == "invalid_json"
    # One that got past the parser (Python's json reads it) is refused by the model itself.
    with pytest.raises(ValueError, match="surrogate"):
        ResponseCreateRequest.model_validate({"model": "m", "input": [{"role": "user", "content": "\ud800"}]})


def test_nul_in_a_string_value_is_kept():
    request = _parsed(input="a\u0000b", metadata={"k": "v\u0000"})
    assert request.input == "a\x00b" and request.metadata == {"k": "v\x00"}
    bson.encode(request.model_dump(mode="json"))  # BSON strings hold NUL; only keys cannot


def test_error_messages_do_not_echo_a_huge_value():
    error = _field_error(tool_choice="x" * 100_000)
    assert len(error.message) < 500


def test_chat_completions_tools_and_tool_choice_become_the_responses_form():
    request = _parsed(
        tools=[
            {
                "type": "function",
                "function": {"name": "f", "description": "d", "parameters": {}, "strict": True},
            }
        ],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    dumped = request.model_dump(mode="json", exclude_none=True)
    assert dumped["tools"] == [
        {"type": "function", "name": "f", "description": "d", "parameters": {}, "strict": True}
    ]
    assert dumped["tool_choice"] == {"type": "function", "name": "f"}


def test_what_openai_clients_send_is_accepted():
    request = _parsed(
        DROPPING,
        tools=[
            {"type": "function", "name": "f", "parameters": {"$defs": {"A": {}}, "$ref": "#/$defs/A"},
             "strict": True},
            {"type": "web_search"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "mcp", "server_label": "docs", "server_url": "https://x", "require_approval": "never"},
            {"type": "code_interpreter", "container": {"type": "auto"}},
            {"type": "custom", "name": "grammar", "format": {"type": "text"}},
        ],
        tool_choice={"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]},
        include=["message.output_text.logprobs", "reasoning.encrypted_content"],
        reasoning={"effort": "xhigh", "summary": "auto", "context": "all_turns"},
        text={"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}},
              "verbosity": "low"},
        parallel_tool_calls=False,
        prompt_cache_key="k",
        stream_options={"include_obfuscation": False},
        service_tier="priority",
        metadata={"k" * 64: "v" * 512},
        max_output_tokens=2**31 - 1,
        input=[
            {"role": "user",
             "content": [{"type": "input_text", "text": "hi", "prompt_cache_breakpoint": {}}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "phase": "final",
             "content": [{"type": "output_text", "text": "a", "annotations": [], "logprobs": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}",
             "status": "completed"},
            {"type": "function_call_output", "call_id": "c", "output": "ok"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
            {"type": "item_reference", "id": "msg_0"},
        ],
    )  # fmt: skip
    # The schema's $-keys are fine where OpenAI defines the field; everything accepted is storable.
    bson.encode(request.model_dump(mode="json"))
    assert request.model_validate_json(request.model_dump_json()) == request


def test_size_limit():
    with pytest.raises(InvalidRequest) as err:
        parse_request(b'{"model": "m", "input": "' + b"x" * 2000 + b'"}', max_bytes=1000)
    assert err.value.code == "request_too_large"


def test_null_means_the_default():
    body = b'{"model": "m", "input": "hi", "tools": null, "store": null, "tool_choice": null, "vendor": null}'
    request = parse_request(body, max_bytes=1000)
    assert (request.tools, request.store, request.tool_choice) == ([], True, "auto")
    assert request.extra_fields() == {"vendor": None}  # vendor fields pass through as sent


def test_input_tokens_parses_the_same_way_without_a_model():
    body = b'{"input": "hi", "tools": [{"type": "function"}]}'
    with pytest.raises(InvalidRequest) as err:
        parse_request(body, max_bytes=1000, model=TokenCountRequest)
    assert err.value.param == "tools[0].name"
    assert parse_request(b'{"input": "hi"}', max_bytes=1000, model=TokenCountRequest).model is None

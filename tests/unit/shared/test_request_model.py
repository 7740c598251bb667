"""The body of ``POST /v1/responses`` (shared/request_model/): what the api accepts it keeps (unknown
fields of open objects, vendor fields for the backend), ``null`` is the default, a Chat Completions style
function tool becomes the Responses form, and what no hop could hold or this gateway does not run is
refused naming its parameter. More shapes, generated, are in tests/unit/domain/test_request_properties.py."""

import ast
import inspect
from typing import Any

import pytest
from pydantic import ValidationError

import shared.request_model
from shared.request_model import UNSUPPORTED_FIELDS, MessageItem, ResponseCreateRequest, items, request, tools


def _refusal(body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as refused:
        ResponseCreateRequest.model_validate(body)
    return refused.value.errors()[0]


def test_a_bare_string_input_is_one_user_message():
    (item,) = ResponseCreateRequest(model="m", input="Hello").input_items()
    assert isinstance(item, MessageItem)
    assert (item.role, item.content) == ("user", "Hello")


def test_listed_input_items_keep_their_order_and_no_input_is_none():
    items = [
        {"type": "message", "role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ]
    request = ResponseCreateRequest.model_validate({"model": "m", "input": items})
    assert [item.type for item in request.input_items()] == ["message", "message", "function_call_output"]
    assert ResponseCreateRequest(model="m").input_items() == []


def test_null_means_the_default():
    request = ResponseCreateRequest.model_validate(
        {"model": "m", "input": "x", "tools": None, "store": None, "tool_choice": None, "truncation": None}
    )
    assert (request.tools, request.store, request.tool_choice, request.truncation) == (
        [],
        True,
        "auto",
        "disabled",
    )


def test_vendor_fields_are_kept_apart_for_the_backend():
    body = {"model": "m", "input": "x", "chat_template_kwargs": {"enable_thinking": False}, "top_k": 20}
    request = ResponseCreateRequest.model_validate(body)
    assert request.extra_fields() == {"chat_template_kwargs": {"enable_thinking": False}, "top_k": 20}
    assert "model" not in request.extra_fields()


def test_unknown_fields_of_open_objects_are_kept_and_echoed():
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}, "x_new_openai_field": 1}
    request = ResponseCreateRequest.model_validate({"model": "m", "input": "x", "tools": [tool]})
    assert request.model_dump(mode="json", exclude_none=True)["tools"][0]["x_new_openai_field"] == 1


def test_a_request_round_trips_through_its_json():
    body = {
        "model": "m",
        "input": [{"type": "message", "role": "user", "content": "Hi"}],
        "instructions": "Be kind.",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
        "metadata": {"k": "v"},
        "temperature": 0.5,
        "vendor_option": [1, 2],
    }
    request = ResponseCreateRequest.model_validate(body)
    assert ResponseCreateRequest.model_validate(request.model_dump(mode="json")) == request


def test_a_chat_completions_function_tool_becomes_the_responses_form():
    nested = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    request = ResponseCreateRequest.model_validate({"model": "m", "input": "x", "tools": [nested]})
    (tool,) = request.model_dump(mode="json", exclude_none=True)["tools"]
    assert (tool["type"], tool["name"]) == ("function", "lookup")
    assert "function" not in tool


@pytest.mark.parametrize("field", sorted(UNSUPPORTED_FIELDS))
def test_a_feature_this_gateway_does_not_run_is_refused_naming_it(field):
    error = _refusal({"model": "m", "input": "x", field: {"id": "anything"}})
    assert error["type"] == "unsupported"
    assert error["ctx"]["param"] == field


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": "x", "$where": 1}, "$where"),
        ({"model": "m", "input": "x", "vendor": {"$inc": 1}}, "vendor.$inc"),
        ({"model": "m", "input": "x", "metadata": {"n": 2**70}}, "metadata.n"),
    ],
)
def test_what_no_hop_could_hold_is_refused_naming_it(body, param):
    error = _refusal(body)
    assert (error["type"], error["ctx"]["param"]) == ("unstorable", param)


def test_json_schema_keywords_starting_with_a_dollar_are_fine_in_openai_fields():
    schema = {
        "$defs": {"x": {"type": "string"}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/x"}},
    }
    tool = {"type": "function", "name": "f", "parameters": schema}
    ResponseCreateRequest.model_validate({"model": "m", "input": "x", "tools": [tool]})


@pytest.mark.parametrize("role", ["system", "developer", "assistant"])
def test_an_image_is_only_allowed_from_the_user(role):
    image = {"type": "input_image", "image_url": "https://example.com/cat.png"}
    body = {"model": "m", "input": [{"type": "message", "role": role, "content": [image]}]}
    with pytest.raises(ValidationError) as refused:
        ResponseCreateRequest.model_validate(body)
    # A union reports each of its branches; one of them says why.
    assert any("only allowed in a user message" in e["msg"] for e in refused.value.errors())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": ""}, "model"),
        ({"model": "m", "temperature": 3}, "temperature"),
        ({"model": "m", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "truncation": "sometimes"}, "truncation"),
    ],
)
def test_values_outside_openais_ranges_are_refused(body, field):
    assert _refusal(body)["loc"][0] == field


def test_a_conversation_is_named_by_id_in_either_form():
    assert ResponseCreateRequest(model="m", conversation="conv_1").conversation_id() == "conv_1"
    by_object = ResponseCreateRequest.model_validate({"model": "m", "conversation": {"id": "conv_2"}})
    assert by_object.conversation_id() == "conv_2"
    assert ResponseCreateRequest(model="m").conversation_id() is None


def _defined(module: object) -> set[str]:
    """The public names a module defines itself (classes and assignments), not those it imports."""
    tree = ast.parse(inspect.getsource(module))
    names = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    names |= {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    return {name for name in names if not name.startswith("_")}


def test_every_public_name_of_the_package_is_importable_from_it():
    defined = _defined(items) | _defined(tools) | _defined(request)
    assert {"InputItem", "McpTool", "ToolChoice", "ResponseCreateRequest"} <= defined
    assert set(shared.request_model.__all__) == defined
    assert all(hasattr(shared.request_model, name) for name in defined)

"""Property: whatever the api accepts, the translator's pure functions and the store can handle.

Requests are drawn from hand-written strategies covering every shape ``shared/request_model/``
types (each tool, tool choice, input item, content part and text format, Chat Completions' nested
forms, vendor fields), mixed with arbitrary JSON in any field. Each is parsed as the api parses it;
an accepted one must then map to a Response, to a chat body (or a clean ``InvalidRequest``, which the
translator turns into a failed response), survive the event's JSON round trip, and encode as BSON.
Chat chunk streams are drawn the same way for the stream mapping.
"""

import base64
import json
from typing import Any

import bson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from services.api.validation import check_request, parse_request
from shared.config import Deployment, GatewayConfig
from shared.domain import compaction, stream, truncation
from shared.domain.requests import build_chat_request, build_response, referenced_item_ids
from shared.errors import InvalidRequest
from shared.request_model import FunctionTool, ResponseCreateRequest

CONFIG = GatewayConfig(models=[Deployment(name="m", api_base="http://a/v1", model="up")])
EVENT = TypeAdapter(ResponseStreamEvent)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# Any Unicode, lone surrogates and NUL included: the parser must refuse or keep each one safely.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
names = st.text("abcdefghij_-", min_size=1, max_size=8)
ints = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([2**63 - 1, -(2**63), 2**63, 0])
json_values = st.recursive(
    st.none() | st.booleans() | ints | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text | names, inner, max_size=3),
    max_leaves=12,
)
objects = st.dictionaries(names, json_values, max_size=3)


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _with(
    base: st.SearchStrategy[dict], extras: st.SearchStrategy[dict] = objects
) -> st.SearchStrategy[dict]:
    """An object strategy, plus fields of its own the client may add (objects are open)."""
    return st.builds(lambda b, e: {**e, **b}, base, st.one_of(st.just({}), extras))


def _fixed(**fields: Any) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in fields.items()}
    )


# Content parts and items ------------------------------------------------------------------------

input_text = _fixed(type="input_text", text=any_text)
input_image = _fixed(
    type="input_image",
    image_url=st.sampled_from(["https://x/a.png", _data_url("image/png", b"\x89PNG"), None]),
    detail=st.sampled_from(["low", "high", "auto", "original"]),
) | _fixed(type="input_image", file_id=names)
input_file = st.one_of(
    _fixed(type="input_file", filename=st.sampled_from(["a.txt", "b.pdf", "c.json", "x"]),
           file_data=st.sampled_from([_data_url("text/plain", "é".encode()), _data_url("text/plain", b"\xff"),
                                      _data_url("application/pdf", b"%PDF"), "bm90IGI2NA==", "%%%"])),
    _fixed(type="input_file", file_url=st.just("https://x/f.pdf")),
    _fixed(type="input_file", file_id=names),
)  # fmt: skip
output_text = _fixed(type="output_text", text=any_text, annotations=st.just([]))
refusal = _fixed(type="refusal", refusal=any_text)
user_parts = st.lists(_with(input_text | input_image | input_file), min_size=1, max_size=3)
any_parts = st.lists(_with(input_text | input_image | input_file | output_text | refusal), max_size=3)

message = st.one_of(
    _fixed(role=st.just("user"), content=any_text | user_parts),
    _fixed(type=st.just("message"), role=st.sampled_from(["user", "system", "developer", "assistant"]),
           content=any_text | any_parts, status=st.sampled_from(["completed", "in_progress", "incomplete"])),
)  # fmt: skip
function_call = _fixed(type="function_call", call_id=names, name=names, arguments=any_text)
function_call_output = _fixed(type="function_call_output", call_id=names, output=any_text | any_parts)
reasoning_item = _fixed(
    type="reasoning",
    id=names,
    summary=st.lists(_fixed(type="summary_text", text=any_text), max_size=2),
    content=st.lists(_fixed(type="reasoning_text", text=any_text), max_size=2),
)
item_reference = _fixed(type="item_reference", id=st.sampled_from(["msg_known", "msg_unknown"]))
compaction_item = _fixed(type="compaction", encrypted_content=any_text.map(compaction.encode) | any_text)
hosted_item = st.one_of(
    _fixed(type="web_search_call", id=names, status=st.just("completed"), action=json_values),
    _fixed(type="mcp_call", id=names, server_label=names, name=names, arguments=any_text),
    _fixed(type="computer_call_output", call_id=names, output=json_values),
    _fixed(type="compaction_trigger"),
)
items = _with(
    message
    | function_call
    | function_call_output
    | reasoning_item
    | item_reference
    | compaction_item
    | hosted_item
)


# Tools, choices, text ---------------------------------------------------------------------------

schema = st.sampled_from([
    None, {}, {"type": "object", "properties": {"a": {"type": "string"}}},
    {"$defs": {"A": {"type": "integer", "maximum": 2**62}}, "$ref": "#/$defs/A"},
]) | objects  # fmt: skip
function_fields = _fixed(name=names, description=any_text | st.none(), parameters=schema,
                         strict=st.sampled_from([True, False, None]))  # fmt: skip
function_tool = st.one_of(
    function_fields.map(lambda f: {"type": "function", **f}),
    function_fields.map(lambda f: {"type": "function", "function": f}),  # the Chat Completions form
)
hosted_tool = st.one_of(
    _fixed(type=st.sampled_from(["web_search", "web_search_preview", "image_generation", "local_shell",
                                 "shell", "apply_patch", "tool_search", "computer"])),
    _fixed(type="file_search", vector_store_ids=st.lists(names, max_size=2)),
    _fixed(type="mcp", server_label=names, server_url=st.just("https://mcp.example.com")),
    _fixed(type="code_interpreter", container=st.just({"type": "auto"}) | names),
    _fixed(type="custom", name=names),
    _fixed(type="computer_use_preview", environment=st.just("browser"), display_width=st.integers(0, 4000),
           display_height=st.integers(0, 4000)),
    _fixed(type="namespace", name=names, description=any_text, tools=st.lists(function_tool, min_size=1,
                                                                               max_size=2)),
)  # fmt: skip
tools = st.lists(_with(function_tool | hosted_tool), max_size=4)
tool_choice = st.one_of(
    st.sampled_from(["none", "auto", "required"]),
    _fixed(type="function", name=names),
    _fixed(type="function", function=_fixed(name=names)),
    _fixed(type="allowed_tools", mode=st.sampled_from(["auto", "required"]),
           tools=st.lists(_fixed(type="function", name=names), max_size=2)),
    _fixed(type=st.sampled_from(["file_search", "code_interpreter", "image_generation"])),
    _fixed(type="mcp", server_label=names),
)  # fmt: skip
text_format = st.one_of(
    _fixed(type=st.sampled_from(["text", "json_object"])),
    _fixed(type="json_schema", name=names, schema=schema.filter(lambda s: s is not None),
           strict=st.sampled_from([True, False, None]), description=any_text | st.none()),
)  # fmt: skip
optional_fields = st.fixed_dictionaries(
    {},
    optional={
        "instructions": any_text,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": st.booleans(),
        "max_tool_calls": st.integers(1, 2**31 - 1),
        "max_output_tokens": st.integers(1, 2**31 - 1),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "top_logprobs": st.integers(0, 20),
        "presence_penalty": st.floats(-2, 2),
        "text": st.fixed_dictionaries({}, optional={"format": text_format,
                                                    "verbosity": st.sampled_from(["low", "medium", "high"])}),
        "reasoning": st.fixed_dictionaries({}, optional={
            "effort": st.sampled_from(["none", "minimal", "low", "medium", "high", "xhigh", "max", None]),
            "summary": st.sampled_from(["auto", "concise", "detailed", None])}),
        "include": st.lists(st.sampled_from(["message.output_text.logprobs", "reasoning.encrypted_content"])),
        "metadata": st.dictionaries(any_text.filter(lambda k: len(k) <= 64), any_text, max_size=16),
        "service_tier": st.sampled_from(["auto", "default", "flex", "scale", "priority", "fast", None]),
        "truncation": st.sampled_from(["auto", "disabled"]),
        "stream": st.booleans(),
        "background": st.booleans(),
        "store": st.booleans(),
        "user": any_text,
        "prompt_cache_key": any_text,
        "stream_options": st.just({"include_obfuscation": False}),
    },
)  # fmt: skip
well_formed = st.builds(
    lambda input_, fields, vendor: {"model": "m", "input": input_, **fields, **vendor},
    any_text | st.lists(items, min_size=1, max_size=5),
    optional_fields,
    st.dictionaries(names.map(lambda n: f"x_{n}"), json_values, max_size=2),  # vendor fields
)
# Well-formed requests with one field replaced by arbitrary JSON: mostly refusals, which must be clean.
scrambled = st.builds(
    lambda body, key, value: {**body, key: value},
    well_formed,
    st.sampled_from(["tools", "tool_choice", "text", "reasoning", "metadata", "input", "include",
                     "max_output_tokens", "service_tier", "vendor"]),
    json_values,
)  # fmt: skip
bodies = st.one_of(well_formed, scrambled)

KNOWN_ITEM = {"type": "message", "role": "user", "content": "earlier", "id": "msg_known"}


def _accepted(body: dict[str, Any]) -> ResponseCreateRequest | None:
    """The request as the api would accept it, or None for a clean 400."""
    raw = json.dumps(body).encode()  # lone surrogates go as \\udXXX escapes, NaN as NaN
    try:
        request = parse_request(raw, max_bytes=10_000_000)
        check_request(request, CONFIG)
    except InvalidRequest as error:
        assert error.status == 400 and error.message
        return None
    return request


@SETTINGS
@given(body=bodies)
def test_an_accepted_request_maps_round_trips_and_stores(body: dict[str, Any]) -> None:
    request = _accepted(body)
    if request is None:
        return
    # The event carries the request as JSON; the translator and the store must see the same request.
    assert ResponseCreateRequest.model_validate_json(request.model_dump_json()) == request
    stored = request.model_dump(mode="json")
    bson.encode(stored)
    json.dumps(stored, ensure_ascii=False).encode()  # valid UTF-8 for NATS and the backend

    response = build_response(request, response_id="resp_1", created_at=1)
    bson.encode(response)
    if all(isinstance(tool, FunctionTool) for tool in request.tools):
        Response.model_validate(response)  # hosted tools are echoed as sent, not as the SDK types them
    assert [t.get("name") for t in response["tools"] if t["type"] == "function"] == [
        t.name for t in request.tools if isinstance(t, FunctionTool)
    ]

    references = {"msg_known": KNOWN_ITEM} if "msg_known" in referenced_item_ids(request) else {}
    try:
        chat = truncation.fit(build_chat_request(request, [], references=references), context_window=50)
    except InvalidRequest as error:
        assert error.failure_code == "invalid_prompt"  # the translator fails the response with it
        return
    json.dumps(chat, ensure_ascii=False, allow_nan=False).encode()
    assert chat["messages"]
    for tool in chat.get("tools", []):
        assert tool["type"] == "function" and tool["function"]["name"]


# Stream mapping ---------------------------------------------------------------------------------

tool_call_delta = _fixed(
    index=st.integers(0, 3),
    id=names | st.none(),
    function=st.fixed_dictionaries({}, optional={"name": names, "arguments": any_text}),
)
delta = st.fixed_dictionaries(
    {},
    optional={
        "role": st.just("assistant"),
        "content": any_text | st.none(),
        "reasoning_content": any_text,
        "refusal": any_text,
        "tool_calls": st.lists(tool_call_delta, max_size=2),
    },
)
chunk = st.builds(
    lambda d, finish, extra: {"choices": [{"index": 0, "delta": d, "finish_reason": finish}], **extra},
    delta,
    st.sampled_from([None, None, "stop", "length", "tool_calls", "content_filter"]),
    st.fixed_dictionaries({}, optional={
        "service_tier": st.sampled_from(["default", "priority", "flex", "on_demand", None]),
        "usage": _fixed(prompt_tokens=st.integers(0, 10**6), completion_tokens=st.integers(0, 10**6)),
    }),
)  # fmt: skip
usage_only = _fixed(choices=st.just([]), usage=_fixed(prompt_tokens=st.integers(0, 99)))


@SETTINGS
@given(
    body=well_formed,
    chunks=st.lists(chunk | usage_only, max_size=12),
    ending=st.sampled_from(["finish", "fail"]),
)
def test_any_chunk_stream_maps_to_valid_events(body, chunks, ending) -> None:
    request = _accepted(body)
    if request is None:
        return
    # Hosted tools are echoed as sent, which the SDK's event types may type more narrowly.
    request = request.model_copy(update={"tools": [t for t in request.tools if isinstance(t, FunctionTool)]})
    state, events = stream.start(build_response(request, response_id="resp_1", created_at=1), now=lambda: 2.0)
    for c in chunks:
        events += stream.on_chunk(state, c)
    events += (
        stream.finish(state) if ending == "finish" else stream.fail(state, code="server_error", message="x")
    )
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        EVENT.validate_python(event)
    final = events[-1]["response"]
    bson.encode(final)
    # Every function call the backend started is in the output: max_tool_calls never cuts one.
    started = {
        call["index"] for c in chunks for ch in c["choices"] for call in ch["delta"].get("tool_calls", [])
    }
    assert len([o for o in final["output"] if o["type"] == "function_call"]) == len(started)


def test_the_strategies_reach_acceptance() -> None:
    """Guards the properties above against passing vacuously: most well-formed bodies are accepted."""
    accepted = 0

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(body=well_formed)
    def count(body: dict[str, Any]) -> None:
        nonlocal accepted
        accepted += _accepted(body) is not None

    count()
    assert accepted >= 30

"""Hostile input against the running stack, as raw HTTP: every case is answered with a 4xx carrying an
OpenAI-shaped error that names the parameter, or with a 200 whose response GET returns afterwards.
Never a 5xx, never a hang (each call is bounded), never a 200 that cannot be retrieved.

Bodies are sent as bytes built here (``json.dumps`` keeps ``NaN`` and writes lone surrogates as
``\\udXXX`` escapes), since an HTTP client's own JSON encoder refuses exactly the values under test.
"""

import json
import time
from typing import Any

import httpx
import openai
import pytest

# Bounds each call: a hang fails the test instead of stalling the run (not a performance threshold).
TIMEOUT_S = 60.0


@pytest.fixture
def http(stack) -> httpx.Client:
    headers = {"Authorization": f"Bearer {stack.key_a}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{stack.api_url}/v1", headers=headers, timeout=TIMEOUT_S) as client:
        yield client


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m1", "input": "hi", **fields}).encode()


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"v": value}
    return value


def assert_refused(reply: httpx.Response, *, param: str | None, code: str | None) -> dict:
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text[:500])
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == "invalid_request_error" and error["message"], error
    assert (error["param"], error["code"]) == (param, code), error
    return error


def assert_stored(http: httpx.Client, reply: httpx.Response) -> dict:
    """A 200 whose response is retrievable, as it was answered."""
    assert reply.status_code == 200, reply.text[:500]
    answered = reply.json()
    retrieved = http.get(f"/responses/{answered['id']}")
    assert retrieved.status_code == 200, retrieved.text[:500]
    assert retrieved.json()["id"] == answered["id"]
    return retrieved.json()


# Each: (what, path, raw body, the parameter OpenAI would name, the error code).
REFUSED = [
    # What issue 9 found, as a new user would send it.
    ("function tool without name", "/responses", body(tools=[{"type": "function"}]),
     "tools[0].name", "missing_required_parameter"),
    ("Chat Completions tool without name", "/responses",
     body(tools=[{"type": "function", "function": {"parameters": {}}}]),
     "tools[0].function.name", "missing_required_parameter"),
    ("function tool_choice without name", "/responses", body(tool_choice={"type": "function"}),
     "tool_choice.name", "missing_required_parameter"),
    ("text.format a string", "/responses", body(text={"format": "x"}), "text.format", "invalid_type"),
    ("text.format a string, background", "/responses", body(text={"format": "x"}, background=True),
     "text.format", "invalid_type"),
    ("tool_choice not a mode", "/responses", body(tool_choice="invalid_choice"), "tool_choice",
     "invalid_value"),
    ("max_output_tokens 2**63", "/responses", body(max_output_tokens=2**63), "max_output_tokens",
     "invalid_value"),
    ("NUL in a metadata key", "/responses", body(metadata={"a\u0000b": "v"}), "metadata.a\\u0000b",
     "invalid_value"),
    ("2**70 in a vendor field", "/responses", body(vendor_seed={"n": 2**70}), "vendor_seed.n",
     "invalid_value"),
    ("lone surrogate in compact", "/responses/compact", b'{"model": "m1", "input": "\\ud800"}', None,
     "invalid_json"),
    # Neighbours: the same parsing on every endpoint.
    ("lone surrogate", "/responses", b'{"model": "m1", "input": "\\udfff x"}', None, "invalid_json"),
    ("lone surrogate in input_tokens", "/responses/input_tokens", b'{"model": "m1", "input": "\\ud800"}',
     None, "invalid_json"),
    ("lone surrogate in a key", "/responses", b'{"model": "m1", "input": "hi", "metadata": {"\\ud800": "v"}}',
     None, "invalid_json"),
    ("input_tokens tool without name", "/responses/input_tokens", body(tools=[{"type": "function"}]),
     "tools[0].name", "missing_required_parameter"),
    ("compact text.format a string", "/responses/compact", body(text={"format": "x"}), "text.format",
     "invalid_type"),
    ("unknown tool type", "/responses", body(tools=[{"type": "teleport"}]), "tools[0].type", "invalid_value"),
    ("tool not an object", "/responses", body(tools=["get_weather"]), "tools[0]", "invalid_type"),
    ("file_search without stores", "/responses", body(tools=[{"type": "file_search"}]),
     "tools[0].vector_store_ids", "missing_required_parameter"),
    ("hosted tool_choice", "/responses", body(tool_choice={"type": "code_interpreter"}), "tool_choice", None),
    ("tool_choice names no offered tool", "/responses", body(tool_choice={"type": "function", "name": "f"}),
     "tool_choice", None),
    ("allowed_tools without mode", "/responses", body(tool_choice={"type": "allowed_tools", "tools": []}),
     "tool_choice.mode", "missing_required_parameter"),
    ("unknown text format", "/responses", body(text={"format": {"type": "yaml"}}), "text.format.type",
     "invalid_value"),
    ("json_schema without schema", "/responses", body(text={"format": {"type": "json_schema", "name": "x"}}),
     "text.format.schema", "missing_required_parameter"),
    ("unknown reasoning effort", "/responses", body(reasoning={"effort": "maximum"}), "reasoning.effort",
     "invalid_value"),
    ("unknown include", "/responses", body(include=["everything"]), "include[0]", "invalid_value"),
    ("unknown service tier", "/responses", body(service_tier="gold"), "service_tier", "invalid_value"),
    ("17 metadata pairs", "/responses", body(metadata={f"k{n}": "v" for n in range(17)}), "metadata",
     "invalid_value"),
    ("metadata value of 513", "/responses", body(metadata={"k": "v" * 513}), "metadata.k", "invalid_value"),
    ("int past 64 bits in a tool schema", "/responses",
     body(tools=[{"type": "function", "name": "f", "parameters": {"maximum": 2**64}}]),
     "tools[0].parameters.maximum", "invalid_value"),
    ("vendor key starting with $", "/responses", body(options={"$where": "1"}), "options.$where",
     "invalid_value"),
    ("NaN", "/responses", b'{"model": "m1", "input": "hi", "temperature": NaN}', "temperature",
     "invalid_value"),
    ("1e400 in a vendor field", "/responses", b'{"model": "m1", "input": "hi", "seed": 1e400}', "seed",
     "invalid_value"),
    ("unknown item type", "/responses", body(input=[{"type": "teleport"}]), "input[0].type", "invalid_value"),
    ("unknown content part", "/responses",
     body(input=[{"role": "user", "content": [{"type": "input_video"}]}]), "input[0].content[0].type",
     "invalid_value"),
    ("image in a system message", "/responses",
     body(input=[{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]),
     "input[0].content", "invalid_value"),
    ("function_call without call_id", "/responses",
     body(input=[{"type": "function_call", "name": "f", "arguments": "{}"}]), "input[0].call_id",
     "missing_required_parameter"),
    # Depth.
    ("vendor field nested 40 deep", "/responses", body(deep=nested(40)), "deep" + ".v" * 32,
     "invalid_value"),
    ("input nested 40 deep", "/responses",
     body(input=[{"role": "user", "content": "x", "extra": nested(40)}]), "input[0].extra" + ".v" * 30,
     "invalid_value"),
    ("arrays nested 100000 deep", "/responses", b"[" * 100_000 + b"]" * 100_000, None, "invalid_json"),
    # Unicode and bytes.
    ("invalid UTF-8", "/responses", b'{"model": "m1", "input": "\xff\xfe"}', None, "invalid_json"),
    ("UTF-8 byte order mark", "/responses", b"\xef\xbb\xbf" + body(), None, "invalid_json"),
    # Wrong types.
    ("model a number", "/responses", b'{"model": 5, "input": "hi"}', "model", "invalid_value"),
    ("input a number", "/responses", body(input=5), "input", "invalid_value"),
    ("input an object", "/responses", body(input={"role": "user"}), "input", "invalid_value"),
    ("tools an object", "/responses", body(tools={"type": "function"}), "tools", "invalid_value"),
    ("metadata a list", "/responses", body(metadata=["k"]), "metadata", "invalid_value"),
    ("reasoning a string", "/responses", body(reasoning="high"), "reasoning", "invalid_value"),
    ("top_logprobs a fraction", "/responses", body(top_logprobs=1.5), "top_logprobs", "invalid_value"),
    ("stream a list", "/responses", body(stream=[]), "stream", "invalid_value"),
    ("body null", "/responses", b"null", None, "invalid_value"),
    ("body a string", "/responses", b'"hi"', None, "invalid_value"),
    ("body a list", "/responses/compact", b"[]", None, "invalid_value"),
    ("previous_response_id with NUL", "/responses", body(previous_response_id="resp_\u0000"),
     "previous_response_id", "previous_response_not_found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "raw", "param", "code"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_with_an_openai_shaped_error(http, mock_llm, path, raw, param, code):
    assert_refused(http.post(path, content=raw), param=param, code=code)
    assert mock_llm.requests() == []  # refused before anything reached a backend


def test_bodies_over_the_limit_are_refused_on_every_endpoint(http, stack):
    big = body(input="x" * (stack.max_body_bytes + 1))
    for path in ("/responses", "/responses/compact", "/responses/input_tokens"):
        assert_refused(http.post(path, content=big), param=None, code="request_too_large")


@pytest.mark.parametrize("since", ["nan", "NaN", "1e400", "inf", "-inf", "yesterday"])
def test_usage_since_must_be_an_instant(stack, since):
    headers = {"Authorization": f"Bearer {stack.key_admin}"}
    reply = httpx.get(
        f"{stack.api_url}/v1/admin/usage", params={"since": since}, headers=headers, timeout=TIMEOUT_S
    )
    assert_refused(reply, param="since", code="invalid_value")


def test_admin_key_limits_are_bounded(stack):
    headers = {"Authorization": f"Bearer {stack.key_admin}"}
    key = {"name": "hostile", "project": "hostile", "rpm": 2**70}
    reply = httpx.post(f"{stack.api_url}/v1/admin/keys", json=key, headers=headers, timeout=TIMEOUT_S)
    assert_refused(reply, param="rpm", code="invalid_value")


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/responses/resp_x/input_items?limit=1e400", "limit"),
        ("/responses/resp_x/input_items?limit=-1", "limit"),
        ("/responses/resp_x/input_items?order=sideways", "order"),
        ("/responses/resp_x?starting_after=nan", "starting_after"),
    ],
)
def test_bad_query_parameters_are_refused(http, path, param):
    reply = http.get(path)
    assert reply.status_code == 400, reply.text[:300]
    error = reply.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("response_id", ["%00", "%ED%A0%80", "resp_%F0%9F%98%80", "x" * 5000])
def test_odd_ids_are_not_found(http, response_id):
    for reply in (http.get(f"/responses/{response_id}"), http.delete(f"/responses/{response_id}"),
                  http.get(f"/responses/{response_id}/input_items")):  # fmt: skip
        assert reply.status_code == 404, reply.text[:300]
        assert reply.json()["error"]["type"] == "invalid_request_error"


# What is accepted is stored as sent, and retrievable.

UNICODE = "emoji 😀, RTL שלום, combining é, zero-width \u200b\u2060, CJK 漢字, NUL \u0000 inside"


def test_unicode_and_nul_in_values_round_trip(http, mock_llm):
    metadata = {"ключ 😀": UNICODE[:64], "k" * 64: "v" * 512, "a.b": "dots are fine in keys"}
    stored = assert_stored(http, http.post("/responses", content=body(input=UNICODE, metadata=metadata)))
    assert stored["metadata"] == metadata
    assert mock_llm.requests()[-1]["body"]["messages"] == [{"role": "user", "content": UNICODE}]
    assert stored["output"][0]["content"][0]["text"] == f"echo: {UNICODE}"


def test_chat_completions_shaped_tools_over_raw_http_are_stored_in_the_responses_form(http, mock_llm):
    tool = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    choice = {"type": "function", "function": {"name": "get_time"}}
    stored = assert_stored(http, http.post("/responses", content=body(tools=[tool], tool_choice=choice)))
    assert stored["tools"] == [
        {"type": "function", "name": "get_time", "description": None, "parameters": {"type": "object"},
         "strict": True}
    ]  # fmt: skip
    assert stored["tool_choice"] == {"type": "function", "name": "get_time"}
    assert mock_llm.requests()[-1]["body"]["tools"] == [tool]


def test_large_but_allowed_shapes_are_stored(http, mock_llm):
    many_items = [{"role": "user", "content": f"line {n}"} for n in range(5000)]
    assert_stored(http, http.post("/responses", content=body(input=many_items)))
    assert len(mock_llm.requests()[-1]["body"]["messages"]) == 5000
    many_tools = [
        {"type": "function", "name": f"tool_{n}", "parameters": {"type": "object"}} for n in range(500)
    ]
    assert len(assert_stored(http, http.post("/responses", content=body(tools=many_tools)))["tools"]) == 500
    # The deepest a value may nest (32 levels below the body), the widest integer BSON holds, and a JSON
    # Schema's $-keys (MongoDB operators' spelling) where OpenAI's schema puts one.
    schema = {"$defs": {"A": {"type": "integer"}}, "$ref": "#/$defs/A"}
    edge = body(
        deep=nested(31), seed=-(2**63), tools=[{"type": "function", "name": "f", "parameters": schema}]
    )
    stored = assert_stored(http, http.post("/responses", content=edge))
    assert stored["tools"][0]["parameters"] == schema
    assert mock_llm.requests()[-1]["body"]["seed"] == -(2**63)


def test_a_content_type_other_than_json_is_still_parsed_as_json(http):
    reply = http.post("/responses", content=body(), headers={"Content-Type": "text/plain"})
    assert_stored(http, reply)


def test_background_and_stream_with_hostile_but_valid_input_finish_and_are_retrievable(http, client):
    tool = {"type": "function", "function": {"name": "t", "parameters": {}}}
    queued = http.post("/responses", content=body(input=UNICODE, tools=[tool], background=True))
    assert queued.status_code == 200 and queued.json()["status"] == "queued"
    deadline = time.monotonic() + TIMEOUT_S  # a bounded wait for the worker, not a timing threshold
    while (status := client.responses.retrieve(queued.json()["id"]).status) in ("queued", "in_progress"):
        assert time.monotonic() < deadline, "background response never finished"
        time.sleep(0.05)
    assert status == "completed"
    with http.stream("POST", "/responses", content=body(input=UNICODE, stream=True)) as streamed:
        assert streamed.status_code == 200
        frames = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    final = json.loads(frames[-1].removeprefix("data: "))
    assert final["type"] == "response.completed"
    assert client.responses.retrieve(final["response"]["id"]).output_text == f"echo: {UNICODE}"


def test_the_sdk_gets_a_bad_request_error_naming_the_parameter(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="m1", input="hi", tools=[{"type": "function"}])  # type: ignore[list-item]
    assert refused.value.body["param"] == "tools[0].name"

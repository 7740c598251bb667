"""What every hop can hold (shared/storable.py): ``check`` names the first part of a request that NATS,
a backend or a BSON document could not keep, at its OpenAI parameter path; what it lets through
encodes as BSON and survives a JSON round trip unchanged."""

import json
import math

import bson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared import storable
from shared.events import ResponseRequested, parse_event
from shared.request_model import ResponseCreateRequest
from shared.storable import Unstorable, check, check_key, valid_unicode


def _nested(levels: int) -> object:
    value: object = "leaf"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "param", "reason"),
    [
        (2**63, "metadata.n", "signed 64-bit"),
        (-(2**63) - 1, "metadata.n", "signed 64-bit"),
        (math.nan, "metadata.n", "finite"),
        (math.inf, "metadata.n", "finite"),
        ("a\ud800b", "metadata.n", "surrogate"),
    ],
)
def test_a_value_no_hop_can_hold_is_named_at_its_parameter(value, param, reason):
    with pytest.raises(Unstorable) as caught:
        check({"n": value}, "metadata")
    assert caught.value.param == param
    assert reason in caught.value.reason


def test_the_first_bad_part_is_named_by_its_path_through_lists_and_objects():
    body = [{"type": "function", "parameters": {"properties": {"x": {"maximum": math.inf}}}}]
    with pytest.raises(Unstorable) as caught:
        check(body, "tools")
    assert caught.value.param == "tools[0].parameters.properties.x.maximum"
    assert str(caught.value).startswith("tools[0].parameters.properties.x.maximum: ")


def test_the_limits_of_int64_are_themselves_storable():
    check({"low": storable.INT64_MIN, "high": storable.INT64_MAX, "flag": True, "none": None}, "metadata")


def test_nesting_is_bounded_by_max_depth():
    check(_nested(storable.MAX_DEPTH - 1), "input")
    with pytest.raises(Unstorable, match="nested deeper"):
        check(_nested(storable.MAX_DEPTH), "input")


def test_keys_with_nul_are_refused_and_shown_escaped():
    with pytest.raises(Unstorable) as caught:
        check({"a\x00b": 1}, "metadata")
    assert caught.value.param == "metadata.a\\u0000b"
    assert "\x00" not in str(caught.value)


def test_a_key_with_a_lone_surrogate_is_refused():
    with pytest.raises(Unstorable, match="surrogate"):
        check_key("k\udfff", "metadata", vendor=False)


def test_dollar_keys_are_refused_in_vendor_fields_only():
    schema = {"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}}
    check(schema, "text.format.schema")
    with pytest.raises(Unstorable) as caught:
        check({"$where": "1"}, "extra_body", vendor=True)
    assert caught.value.param == "extra_body.$where"
    with pytest.raises(Unstorable) as top:
        check_key("$set", "", vendor=True)
    assert top.value.param == "$set"


def test_non_string_keys_are_left_to_the_models_own_validation():
    check_key(3, "metadata", vendor=True)


def test_valid_unicode_replaces_only_lone_surrogates():
    assert valid_unicode("ok \ud83d end") == "ok \ufffd end"
    assert valid_unicode("emoji \U0001f600 stays") == "emoji \U0001f600 stays"


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_whatever_passes_encodes_as_bson_and_round_trips_through_json(value):
    try:
        check(value, "metadata", vendor=True)
    except Unstorable:
        return
    assert bson.decode(bson.encode({"v": value}))["v"] == value
    assert json.loads(json.dumps(value)) == value


def test_a_request_is_checked_where_it_comes_in_and_not_again_when_read_back_from_the_log():
    body = {"model": "m", "input": "hi", "x_vendor": {"$where": "1"}}  # a MongoDB operator's key
    with pytest.raises(ValidationError, match="must not start with"):
        ResponseCreateRequest.model_validate(body)
    logged = {
        "type": "gateway.response.requested",
        "event_id": "evt_1",
        "response_id": "resp_1",
        "tenant": "t",
        "created_at": 1,
        "request": body,
    }
    event = parse_event(json.dumps(logged))
    assert isinstance(event, ResponseRequested) and event.request.model_extra == {"x_vendor": {"$where": "1"}}

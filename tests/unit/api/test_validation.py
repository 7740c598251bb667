import pytest

from services.api.validation import check_request, parse_request
from shared.config import Deployment, GatewayConfig
from shared.errors import InvalidRequest

CONFIG = GatewayConfig(models=[Deployment(name="m", api_base="http://a/v1", model="up")])


def _error(body: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as err:
        check_request(parse_request(body, max_bytes=1000), CONFIG)
    return err.value


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


def test_size_limit():
    with pytest.raises(InvalidRequest) as err:
        parse_request(b'{"model": "m", "input": "' + b"x" * 2000 + b'"}', max_bytes=1000)
    assert err.value.code == "request_too_large"


def test_null_means_the_default():
    body = b'{"model": "m", "input": "hi", "tools": null, "store": null, "tool_choice": null, "vendor": null}'
    request = parse_request(body, max_bytes=1000)
    assert (request.tools, request.store, request.tool_choice) == ([], True, "auto")
    assert request.extra_fields() == {"vendor": None}  # vendor fields pass through as sent

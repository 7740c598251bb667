"""Sealing content under a response's data key and data keys under the master key (pure)."""

import base64
import os

import pytest

from shared import sealing
from shared.request_model import ResponseCreateRequest

MASTER = sealing.MasterKeys(os.urandom(32))


def test_sealed_content_opens_only_with_its_key_and_response():
    key = sealing.new_data_key()
    value = {"input": "my secret plan", "n": [1, 2.5, None], "unicode": "héllo ✓"}
    sealed = sealing.seal(key, value, response_id="resp_1")

    assert sealing.is_sealed(sealed)
    assert "secret" not in sealed["sealed"]
    assert sealing.open_sealed(key, sealed, response_id="resp_1") == value
    with pytest.raises(sealing.SealingError):
        sealing.open_sealed(sealing.new_data_key(), sealed, response_id="resp_1")
    with pytest.raises(sealing.SealingError):  # moved onto another response's event
        sealing.open_sealed(key, sealed, response_id="resp_2")


def test_an_event_field_seals_as_its_json_and_text_with_a_lone_surrogate_still_opens():
    key = sealing.new_data_key()
    request = ResponseCreateRequest.model_validate({"model": "m", "input": "hi", "metadata": {"a": "b"}})
    sealed = sealing.seal(key, request, response_id="resp_1")  # a model, sealed as it is
    assert sealing.open_sealed(key, sealed, response_id="resp_1") == request.model_dump(mode="json")
    # A backend's error text may hold one: no UTF-8 form, so it is sealed with json's escape.
    broken = {"error": {"message": "bad \ud800 byte"}}
    assert sealing.open_sealed(key, sealing.seal(key, broken, response_id="r"), response_id="r") == broken


def test_a_wrapped_data_key_unwraps_with_the_current_or_a_retired_master_key():
    data_key = sealing.new_data_key()
    stored = sealing.wrap(MASTER, data_key, response_id="resp_1")
    assert data_key.hex() not in str(stored)
    assert sealing.unwrap(MASTER, stored, response_id="resp_1") == data_key

    rotated = sealing.MasterKeys(os.urandom(32), retired=(MASTER.current,))
    assert sealing.unwrap(rotated, stored, response_id="resp_1") == data_key
    with pytest.raises(sealing.SealingError):
        sealing.unwrap(sealing.MasterKeys(os.urandom(32)), stored, response_id="resp_1")


def test_the_master_key_comes_from_the_environment_or_a_file_and_its_absence_is_an_error(tmp_path):
    encoded = base64.b64encode(os.urandom(32)).decode()
    assert len(sealing.master_keys_from({"GATEWAY_MASTER_KEY": encoded}).current) == 32
    path = tmp_path / "master.key"
    path.write_text(encoded + "\n")
    assert sealing.master_keys_from({"GATEWAY_MASTER_KEY_FILE": str(path)}).current == base64.b64decode(
        encoded
    )

    for environ, reason in [
        ({}, "no master key"),
        ({"GATEWAY_MASTER_KEY": "not base64!"}, "not valid base64"),
        ({"GATEWAY_MASTER_KEY": base64.b64encode(b"short").decode()}, "32 bytes"),
        ({"GATEWAY_MASTER_KEY_FILE": str(tmp_path / "missing")}, "cannot be read"),
    ]:
        with pytest.raises(ValueError, match=reason):
            sealing.master_keys_from(environ)

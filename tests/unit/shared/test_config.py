"""Configuration checks that stop a service at start instead of running it wrong."""

import pytest

from shared.config import ConfigError, GatewayConfig, check_backend_keys


def test_a_backend_key_variable_that_is_unset_stops_the_worker():
    config = GatewayConfig.model_validate(
        {"models": [{"name": "m", "api_base": "http://b/v1", "model": "m", "api_key_env": "BACKEND_KEY"}]}
    )
    check_backend_keys(config, {"BACKEND_KEY": "sk-x"})
    for environ in ({}, {"BACKEND_KEY": ""}):
        with pytest.raises(ConfigError, match="BACKEND_KEY"):
            check_backend_keys(config, environ)

"""Configuration checks that stop a service at start instead of running it wrong."""

import pytest

from shared.config import ConfigError, GatewayConfig, Settings, check_backend_keys


def test_a_backend_key_variable_that_is_unset_stops_the_worker():
    config = GatewayConfig.model_validate(
        {"models": [{"name": "m", "api_base": "http://b/v1", "model": "m", "api_key_env": "BACKEND_KEY"}]}
    )
    check_backend_keys(config, {"BACKEND_KEY": "sk-x"})
    for environ in ({}, {"BACKEND_KEY": ""}):
        with pytest.raises(ConfigError, match="BACKEND_KEY"):
            check_backend_keys(config, environ)


def test_stream_and_metrics_settings_are_read_with_the_others(monkeypatch):
    for name in ("STREAM_REPLICAS", "EVENT_RETENTION_S", "METRICS_PORT", "METRICS_HOST"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings.from_env()
    assert (defaults.stream_replicas, defaults.event_retention_s) == (1, 0.0)
    assert (defaults.metrics_port, defaults.metrics_host) == (None, "127.0.0.1")
    monkeypatch.setenv("STREAM_REPLICAS", "3")
    monkeypatch.setenv("EVENT_RETENTION_S", "86400")
    monkeypatch.setenv("METRICS_PORT", "9100")
    monkeypatch.setenv("METRICS_HOST", "0.0.0.0")
    given = Settings.from_env()
    assert (given.stream_replicas, given.event_retention_s) == (3, 86400.0)
    assert (given.metrics_port, given.metrics_host) == (9100, "0.0.0.0")

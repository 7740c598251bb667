"""Configuration checks that stop a service at start instead of running it wrong, and the settings read
once: every variable the code reads is a ``Settings`` field (or a secret read where it is used), and each
is in README's settings table."""

import re
from pathlib import Path

import pytest

from shared.config import ENVIRONMENT, ConfigError, GatewayConfig, Settings, check_backend_keys

ROOT = Path(__file__).resolve().parents[3]
# A variable read by its literal name: environ.get("X"), environ["X"], getenv("X").
READ_BY_NAME = re.compile(r'\b(?:environ|getenv)(?:\.get)?[(\[]\s*"([A-Z][A-Z0-9_]*)"')
# The master key is a secret, read where it is used (shared/config.master_keys), never into Settings.
SECRETS_READ_BY_NAME = {Path("shared/sealing.py")}


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


def _read_by_name() -> dict[Path, set[str]]:
    found = {}
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]):
        if names := set(READ_BY_NAME.findall(path.read_text())):
            found[path.relative_to(ROOT)] = names
    return found


def _documented() -> set[str]:
    """The variables in the first column of README's settings table."""
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("```", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)}


def test_the_name_search_finds_what_it_looks_for():
    code = 'os.environ.get("A_B", "1") environ["C"] os.getenv("D") environ.get(name) ENV.get("E")'
    assert READ_BY_NAME.findall(code) == ["A_B", "C", "D"]


def test_every_setting_is_read_from_its_variable(monkeypatch):
    assert set(ENVIRONMENT) == set(Settings.model_fields)
    assert len(set(ENVIRONMENT.values())) == len(ENVIRONMENT)
    monkeypatch.setenv("WORKER_CONCURRENCY", "12")
    monkeypatch.setenv("API_PORT", "9000")
    monkeypatch.setenv("LOG_LEVEL", "")  # empty: the default
    given = Settings.from_env()
    assert (given.worker_concurrency, given.api_port, given.log_level) == (12, 9000, "INFO")


def test_a_value_that_does_not_parse_stops_the_start_naming_its_variable_not_the_value(monkeypatch):
    monkeypatch.setenv("WORKER_CONCURRENCY", "0")
    monkeypatch.setenv("API_PORT", "s3cret-port")
    with pytest.raises(ConfigError) as refusal:
        Settings.from_env()
    said = str(refusal.value)
    assert sorted(problem.split(":")[0] for problem in said.split("; ")) == ["API_PORT", "WORKER_CONCURRENCY"]
    assert "s3cret" not in said


def test_no_process_setting_is_read_behind_the_settings_back():
    offenders = {path: names for path, names in _read_by_name().items() if path not in SECRETS_READ_BY_NAME}
    assert offenders == {}


def test_the_readme_settings_table_names_every_variable_the_code_reads_and_no_other():
    read = set(ENVIRONMENT.values()) | {name for names in _read_by_name().values() for name in names}
    assert "GATEWAY_MASTER_KEY" in read
    assert _documented() == read

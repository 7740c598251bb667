"""The executors a worker builds from its config (``builtin.executors``, each an ``Executor`` of
``builtin/base.py``): web search only with a provider, and never without its key (fail closed)."""

import httpx
import pytest

from services.worker import builtin
from services.worker.builtin.websearch import WebSearch
from shared.config import ConfigError, GatewayConfig

MODELS = [{"name": "m", "api_base": "http://b/v1", "model": "up"}]


def config(**tools: object) -> GatewayConfig:
    return GatewayConfig.model_validate({"models": MODELS, "tools": tools})


def test_web_search_runs_only_with_a_provider():
    client = httpx.AsyncClient()
    assert builtin.executors(config(), client, {}) == {}
    found = builtin.executors(config(web_search={"provider": "searxng", "url": "http://s"}), client, {})
    assert isinstance(found["web_search"], WebSearch)


def test_a_provider_whose_key_is_missing_stops_the_start(tmp_path):
    client = httpx.AsyncClient()
    tavily = config(web_search={"provider": "tavily", "api_key_env": "TAVILY_API_KEY"})
    with pytest.raises(ConfigError, match="TAVILY_API_KEY is unset or empty"):
        builtin.executors(tavily, client, {"TAVILY_API_KEY": " "})
    assert "web_search" in builtin.executors(tavily, client, {"TAVILY_API_KEY": "tvly-x"})
    empty = tmp_path / "key"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="key file is empty"):
        builtin.executors(config(web_search={"provider": "tavily", "api_key_file": str(empty)}), client, {})
    with pytest.raises(ConfigError, match="cannot be read"):
        builtin.executors(
            config(web_search={"provider": "tavily", "api_key_file": str(tmp_path / "no")}), client, {}
        )


@pytest.mark.parametrize(
    ("tools", "problem"),
    [
        ({"web_search": {"provider": "searxng"}}, "needs its url"),
        ({"web_search": {"provider": "tavily"}}, "needs api_key_env or api_key_file"),
        ({"web_search": {"provider": "bing", "url": "http://x"}}, "provider"),
        ({"unsupported": {"web_serch": "drop"}}, "names no built-in tool type"),
        ({"unsupported": {"file_search": "ignore"}}, "unsupported"),
    ],
)
def test_a_bad_tools_config_is_refused(tools, problem):
    with pytest.raises(ValueError, match=problem):
        config(**tools)

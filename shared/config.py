"""Settings, read once per process in its ``main.py`` and passed down.

Process settings come from the environment; the backends and client keys come from the YAML file
named by ``GATEWAY_CONFIG``. A key's *value* lives only in the environment variable the YAML names,
so neither the file nor any event holds a secret.
"""

import ipaddress
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from shared.domain import builtin_tools, mcp_urls
from shared.sealing import MasterKeys, master_keys_from

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "local" / "gateway.yaml"


class ConfigError(ValueError):
    """A configuration a service must not start with; the message is one line, for the operator."""


class Deployment(BaseModel):
    """One OpenAI-compatible Chat Completions endpoint serving a client-facing model name. Several
    entries may share a ``name``: requests for it are spread over them by ``weight``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    api_base: str
    model: str
    # What usage, metrics and the stored response's `served_by` call this deployment; unique.
    # Default: `name`, or `name#<n>` (1-based, in file order) when several entries share the name.
    id: str = ""
    api_key_env: str | None = None
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    timeout_s: float = 600.0
    context_window: int | None = None
    # vLLM / SGLang's `POST /tokenize` ({"model", "messages"} -> {"count"}), outside /v1: exact counts
    # for /v1/responses/input_tokens. Without one the gateway estimates (shared/domain/tokens.py).
    tokenize_url: str | None = None
    # 0 = standby: used only when every weighted deployment of the name is unavailable.
    weight: float = Field(default=1.0, ge=0)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    input_cost_per_mtok: float = 0.0
    output_cost_per_mtok: float = 0.0
    # Cached prompt tokens; None = priced as ordinary input.
    cached_input_cost_per_mtok: float | None = None
    # Send the request's `service_tier` on (OpenAI, Groq...); false for a backend that refuses the field.
    forward_service_tier: bool = True
    # The vendor fields (a request's `extra_body`) this backend accepts. None: every vendor field is
    # forwarded. A list: the api refuses a request for this model naming any other (400
    # `unsupported_parameter`), and a fallback deployment is sent only the fields on its own list.
    extra_fields: list[str] | None = None


class ClientKey(BaseModel):
    """A static client key; ``project`` names the tenant whose responses it can see."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_env: str
    project: str | None = None
    name: str | None = None
    admin: bool = False
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class RetryPolicy(BaseModel):
    """How often one request may be tried: each try on a different deployment (of the model, then of
    its fallbacks), the n-th retry after ``backoff_s * 2**(n-1)`` seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=0.2, ge=0)


class CooldownPolicy(BaseModel):
    """A deployment failing ``failures`` times in a row is left out for ``seconds``, then tried again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failures: int = Field(default=3, ge=1)
    seconds: float = Field(default=30.0, ge=0)


class McpPolicy(BaseModel):
    """Which remote MCP servers a request's ``mcp`` tools may name (``shared/domain/mcp_urls.py``
    says how a pattern matches). None by default: a gateway that connects wherever a client says is
    an SSRF hole, so the operator opts servers in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # URL patterns: "https://mcp.example.com/mcp", "https://*.example.com/*", "http://127.0.0.1:*/mcp".
    allowed_servers: list[str] = []
    # Private, loopback or link-local networks (CIDR) an allowed server may resolve to; any other
    # address that is not public is refused.
    allowed_networks: list[str] = []
    # Bounds every step with a server: connect, list the tools, one call.
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _readable(self) -> "McpPolicy":
        try:
            self.patterns()
            self.networks()
        except ValueError as error:
            raise ValueError(f"mcp: {error}") from None
        return self

    def patterns(self) -> list[mcp_urls.Pattern]:
        return [mcp_urls.pattern(text) for text in self.allowed_servers]

    def networks(self) -> list[mcp_urls.Network]:
        return [ipaddress.ip_network(text, strict=False) for text in self.allowed_networks]


class WebSearchConfig(BaseModel):
    """The search provider ``web_search`` tools run on (services/worker/builtin/search.py): a SearXNG
    instance (its JSON API, ``format=json`` enabled in its settings) or Tavily's API. A key's value
    lives only in the variable or file named here, never in the config, an event or a log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["searxng", "tavily"]
    # SearXNG: the instance's base URL (required). Tavily: defaults to https://api.tavily.com.
    url: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> "WebSearchConfig":
        if self.provider == "searxng" and not self.url:
            raise ValueError("tools.web_search: provider searxng needs its url")
        if self.provider == "tavily" and not (self.api_key_env or self.api_key_file):
            raise ValueError("tools.web_search: provider tavily needs api_key_env or api_key_file")
        return self


class BuiltinTools(BaseModel):
    """Built-in tools the gateway runs (README, Built-in tools). A request naming a hosted tool type the
    gateway cannot run is refused with a 400, unless ``unsupported`` says to drop that type (then the
    tool is echoed but never offered to the model, and counted in metrics)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    web_search: WebSearchConfig | None = None
    unsupported: dict[str, Literal["refuse", "drop"]] = {}
    # Chat calls one response's tool loop may make; the last is offered no built-in tool, so it answers.
    max_steps: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="after")
    def _known_types(self) -> "BuiltinTools":
        if unknown := sorted(set(self.unsupported) - builtin_tools.HOSTED_TYPES):
            raise ValueError(f"tools.unsupported names no built-in tool type: {unknown}")
        return self

    def dropped(self) -> frozenset[str]:
        return frozenset(kind for kind, rule in self.unsupported.items() if rule == "drop")


def runnable_tool_types(config: "GatewayConfig") -> frozenset[str]:
    """The built-in tool types this gateway runs as configured: web search with a provider, MCP with
    an allow-list of servers."""
    web = builtin_tools.WEB_SEARCH_TYPES if config.tools.web_search else frozenset()
    return web | ({"mcp"} if config.mcp.allowed_servers else frozenset())


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    models: list[Deployment]
    # `keys`: every request needs a static or managed key, even while there is none. `open`: a request
    # without a known key is served as the anonymous tenant (local development). `keys` is the default,
    # so no config is open without saying so.
    auth: Literal["keys", "open"] = "keys"
    api_keys: list[ClientKey] = []
    replay_reasoning: bool = False
    # model name -> other model names to try, in order, once its own deployments failed.
    fallbacks: dict[str, list[str]] = {}
    retry: RetryPolicy = RetryPolicy()
    cooldown: CooldownPolicy = CooldownPolicy()
    mcp: McpPolicy = McpPolicy()
    tools: BuiltinTools = BuiltinTools()

    @model_validator(mode="before")
    @classmethod
    def _name_deployments(cls, data: Any) -> Any:
        """Give each deployment without an ``id`` its default one (see ``Deployment.id``)."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            return data
        shared = Counter(m.get("name") for m in data["models"] if isinstance(m, dict))
        seen: Counter[str] = Counter()
        named = []
        for entry in data["models"]:
            if isinstance(entry, dict) and not entry.get("id"):
                name = entry.get("name")
                seen[name] += 1
                entry = {**entry, "id": f"{name}#{seen[name]}" if shared[name] > 1 else name}
            named.append(entry)
        return {**data, "models": named}

    @model_validator(mode="after")
    def _check_references(self) -> "GatewayConfig":
        ids = Counter(d.id for d in self.models)
        if duplicated := [i for i, n in ids.items() if n > 1]:
            raise ValueError(f"deployment ids must be unique: {duplicated}")
        names = {d.name for d in self.models}
        for model, others in self.fallbacks.items():
            if unknown := [m for m in [model, *others] if m not in names]:
                raise ValueError(f"fallbacks of {model!r} name unknown models: {unknown}")
        return self

    def deployment(self, model: str) -> Deployment | None:
        return next((d for d in self.models if d.name == model), None)

    def deployments(self, model: str) -> list[Deployment]:
        """Every deployment serving the client-facing name ``model``, in file order."""
        return [d for d in self.models if d.name == model]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    nats_url: str = "nats://127.0.0.1:4222"
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "responses_gateway"
    config_path: Path = DEFAULT_CONFIG
    response_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    request_deadline_s: float = 600.0
    # The store's sweeper ends `failed` what is still queued or in progress this long past its
    # deadline, looking every `sweep_interval_s` (services/store/sweeper.py).
    sweep_grace_s: float = Field(default=60.0, ge=0)
    sweep_interval_s: float = Field(default=30.0, gt=0)
    # How long the api waits for the store before answering anyway: the store being down must not
    # hang clients, only delay when other replicas can read the response.
    projection_wait_s: float = 5.0
    # Events NATS holds for one live stream whose client reads slower than the backend writes; past
    # that they are dropped and the stream goes on from the log, so no service buffers without bound.
    stream_buffer_msgs: int = Field(default=20_000, ge=1)
    # A stream quiet this long (a long prefill, a tool wait) gets an SSE comment, so that proxies and
    # clients with idle timeouts keep it open.
    stream_keepalive_s: float = Field(default=15.0, gt=0)
    # How long the api trusts a managed key's lookup: also how long a revoked key still works.
    key_cache_s: float = Field(default=2.0, ge=0)
    max_body_bytes: int = 16 * 1024 * 1024
    # NATS credentials and TLS (shared/bus.py); a user and password may also ride in NATS_URL.
    nats_creds: Path | None = None
    nats_nkey_seed: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    # When set, /metrics answers only `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    # Copies of every stream of the gateway (the log, its claim-check bucket, the dead letters, the
    # data keys), and how long the log keeps events (0: for ever, the audit trail): shared/eventlog.py.
    stream_replicas: int = Field(default=1, ge=1)
    event_retention_s: float = Field(default=0.0, ge=0)
    # The worker's Prometheus metrics (services/worker/metrics.py), when a port is given.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # Where the api listens, and uvicorn's own log level (services/api/__main__.py).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_log_level: str = "warning"
    # Every service's own log (shared/logs.py).
    log_level: str = "INFO"
    # Messages one replica of each service handles at once.
    worker_concurrency: int = Field(default=256, ge=1)
    translator_concurrency: int = Field(default=64, ge=1)
    store_concurrency: int = Field(default=64, ge=1)
    # How long the store's writes wait for company before a small batch (shared/readmodel/bulk.py).
    store_linger_ms: int = Field(default=40, ge=0, le=1000)
    # How soon a call whose worker died goes to another worker (services/worker/handlers.py).
    worker_ack_wait_s: float = Field(default=5.0, gt=0)

    @property
    def store_linger_s(self) -> float:
        return self.store_linger_ms / 1000

    @classmethod
    def from_env(cls) -> "Settings":
        """Every field from its variable (``ENVIRONMENT``); an unset or empty one keeps its default. A
        value that does not parse is a ``ConfigError`` naming its variable, not the value (a token)."""
        values = {field: os.environ.get(variable) for field, variable in ENVIRONMENT.items()}
        try:
            return cls(**{k: v for k, v in values.items() if v})
        except ValidationError as error:
            problems = "; ".join(f"{ENVIRONMENT[str(e['loc'][0])]}: {e['msg']}" for e in error.errors())
            raise ConfigError(problems) from None

    def gateway_config(self) -> GatewayConfig:
        return load_gateway_config(self.config_path)


# The variable each ``Settings`` field is read from: the only process settings the services read, each
# in README's settings table (tests/unit/shared/test_config.py holds both to that). Secrets stay out of
# it and are read where they are used, from variables an operator names: the master key
# (``master_keys``), backend and client keys (a config's ``api_key_env`` / ``key_env``), tool keys.
ENVIRONMENT = {
    "nats_url": "NATS_URL",
    "mongo_uri": "MONGO_URI",
    "mongo_db": "MONGO_DB",
    "config_path": "GATEWAY_CONFIG",
    "response_ttl_s": "RESPONSE_TTL_S",
    "request_deadline_s": "REQUEST_DEADLINE_S",
    "sweep_grace_s": "SWEEP_GRACE_S",
    "sweep_interval_s": "SWEEP_INTERVAL_S",
    "projection_wait_s": "PROJECTION_WAIT_S",
    "stream_buffer_msgs": "STREAM_BUFFER_MSGS",
    "stream_keepalive_s": "STREAM_KEEPALIVE_S",
    "key_cache_s": "KEY_CACHE_S",
    "max_body_bytes": "MAX_BODY_BYTES",
    "nats_creds": "NATS_CREDS",
    "nats_nkey_seed": "NATS_NKEY_SEED",
    "nats_tls_ca": "NATS_TLS_CA",
    "nats_tls_cert": "NATS_TLS_CERT",
    "nats_tls_key": "NATS_TLS_KEY",
    "metrics_token": "METRICS_TOKEN",
    "stream_replicas": "STREAM_REPLICAS",
    "event_retention_s": "EVENT_RETENTION_S",
    "metrics_port": "METRICS_PORT",
    "metrics_host": "METRICS_HOST",
    "api_host": "API_HOST",
    "api_port": "API_PORT",
    "api_log_level": "API_LOG_LEVEL",
    "log_level": "LOG_LEVEL",
    "worker_concurrency": "WORKER_CONCURRENCY",
    "translator_concurrency": "TRANSLATOR_CONCURRENCY",
    "store_concurrency": "STORE_CONCURRENCY",
    "store_linger_ms": "STORE_LINGER_MS",
    "worker_ack_wait_s": "WORKER_ACK_WAIT_S",
}


def check_backend_keys(config: GatewayConfig, environ: Mapping[str, str]) -> None:
    """A deployment whose key variable is unset would be called without its key: stop instead."""
    if missing := sorted(
        {d.api_key_env for d in config.models if d.api_key_env and not environ.get(d.api_key_env)}
    ):
        raise ConfigError(f"backend key variables are unset or empty: {', '.join(missing)}")


def tool_api_key(config: WebSearchConfig, environ: Mapping[str, str]) -> str | None:
    """The search provider's key, from its variable or file; ``ConfigError`` when one is named but
    unset or empty, so a worker fails at start rather than at a client's first search."""
    if config.api_key_env:
        if not (value := environ.get(config.api_key_env, "").strip()):
            raise ConfigError(f"tools.web_search: the key variable {config.api_key_env} is unset or empty")
        return value
    if config.api_key_file:
        try:
            value = config.api_key_file.read_text().strip()
        except OSError as error:
            raise ConfigError(f"tools.web_search: the key file cannot be read ({error.strerror})") from None
        if not value:
            raise ConfigError("tools.web_search: the key file is empty")
        return value
    return None


def master_keys() -> MasterKeys:
    """The master key every service seals content with (``shared/sealing.py``); without one a service
    must not start, or it would log what clients said in the clear."""
    try:
        return master_keys_from(os.environ)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def load_gateway_config(path: Path) -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(yaml.safe_load(Path(path).read_text()))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'top'}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path}: {problems}") from None

"""Settings, read once per process in its ``main.py`` and passed down.

Process settings come from the environment; the backends and client keys come from the YAML file
named by ``GATEWAY_CONFIG``. A key's *value* lives only in the environment variable the YAML names,
so neither the file nor any event holds a secret.
"""

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "local" / "gateway.yaml"


class Deployment(BaseModel):
    """One OpenAI-compatible Chat Completions endpoint serving a client-facing model name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    api_base: str
    model: str
    api_key_env: str | None = None
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    timeout_s: float = 600.0
    context_window: int | None = None


class ClientKey(BaseModel):
    """A static client key; ``project`` names the tenant whose responses it can see."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_env: str
    project: str | None = None


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    models: list[Deployment]
    api_keys: list[ClientKey] = []
    replay_reasoning: bool = False

    def deployment(self, model: str) -> Deployment | None:
        return next((d for d in self.models if d.name == model), None)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    nats_url: str = "nats://127.0.0.1:4222"
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "responses_gateway"
    config_path: Path = DEFAULT_CONFIG
    response_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    request_deadline_s: float = 600.0
    max_body_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        values = {
            "nats_url": env.get("NATS_URL"),
            "mongo_uri": env.get("MONGO_URI"),
            "mongo_db": env.get("MONGO_DB"),
            "config_path": env.get("GATEWAY_CONFIG"),
            "response_ttl_s": env.get("RESPONSE_TTL_S"),
            "request_deadline_s": env.get("REQUEST_DEADLINE_S"),
            "max_body_bytes": env.get("MAX_BODY_BYTES"),
        }
        return cls(**{k: v for k, v in values.items() if v})

    def gateway_config(self) -> GatewayConfig:
        return load_gateway_config(self.config_path)


def load_gateway_config(path: Path) -> GatewayConfig:
    return GatewayConfig.model_validate(yaml.safe_load(Path(path).read_text()))

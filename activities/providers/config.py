"""Worker-side provider configuration: endpoints, keys, limits, prices.

Built-in entries need no file: ``openai`` (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``),
``anthropic`` (``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``) and the common
OpenAI-compatible local servers (``ollama``, ``vllm``, ``lmstudio``, ``llamacpp``).
A YAML file named by ``--config`` / ``LLM_ORCHESTRATOR_CONFIG`` adds or overrides
entries, limits and prices, and names the MCP servers `mcp` steps may call
(``mcp_servers:``). Keys are read only here, from the worker's
environment or a secrets file, and never leave the worker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from activities.providers.prices import DEFAULT_PRICES, Price
from activities.redaction import remember_secret
from interpreter.errors import OrchestratorError

__all__ = [
    "McpServerSettings",
    "ProviderSettings",
    "WorkerConfig",
    "expand_secrets",
    "load_worker_config",
    "read_secret",
]


class ProviderSettings(BaseModel):
    """One named provider endpoint."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str
    api_key_env: str | None = None
    """Environment variable (or secrets-file entry) holding the key; none for local servers."""
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    """Extra query parameters, e.g. Azure's ``api-version``."""
    key_header: Literal["authorization", "api-key", "x-api-key"] | None = None
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    breaker_failures: int = Field(default=5, ge=1)
    """Consecutive failures that open the circuit breaker."""
    breaker_cooldown: float = Field(default=30.0, gt=0)
    """Seconds the breaker stays open before one probe request is let through."""
    http2: bool = True
    stream_usage: bool = True
    """Ask for usage in streams (``stream_options.include_usage``); false for servers that
    reject the option. Without it, or when a server ignores it, usage is estimated."""
    idempotency_header: str | None = "Idempotency-Key"
    """Header carrying a key stable across retries of one step's request; null sends none."""
    pooling: Literal["mean"] | None = None
    """Pool per-token embeddings (a llama.cpp server started without ``--pooling``)."""


class McpServerSettings(BaseModel):
    """One named MCP server: a command started over stdio, or a Streamable HTTP URL.

    Values of ``env`` and ``headers`` may name secrets as ``${NAME}`` (read with
    :func:`read_secret` when the server is first used, and masked from then on).
    """

    model_config = ConfigDict(extra="forbid")

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment of the server process, over the SDK's safe default set."""
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tools_ttl: float = Field(default=300.0, ge=0)
    """Seconds a server's tool list is cached (0: listed before every use)."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (Streamable HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` are for `command` servers")
        if self.command is not None and self.headers:
            raise ValueError("`headers` are for `url` servers")
        return self


class WorkerConfig(BaseModel):
    """The worker's optional config file."""

    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    prices: dict[str, Price] = Field(default_factory=dict)
    secrets_file: Path | None = None
    mcp_servers: dict[str, McpServerSettings] = Field(default_factory=dict)

    def price(self, model: str) -> Price | None:
        """Price of ``model``: exact name, then the longest configured prefix."""
        table = {**DEFAULT_PRICES, **self.prices}
        if model in table:
            return table[model]
        matches = [name for name in table if model.startswith(name)]
        return table[max(matches, key=len)] if matches else None


def _builtin(env: Mapping[str, str]) -> dict[str, ProviderSettings]:
    return {
        "openai": ProviderSettings(
            kind="openai",
            base_url=env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
            api_key_env="OPENAI_API_KEY",
        ),
        "anthropic": ProviderSettings(
            kind="anthropic",
            base_url=env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
            api_key_env="ANTHROPIC_API_KEY",
        ),
        "ollama": ProviderSettings(
            base_url=env.get("OLLAMA_BASE_URL") or "http://127.0.0.1:11434/v1", http2=False
        ),
        "vllm": ProviderSettings(
            base_url=env.get("VLLM_BASE_URL") or "http://127.0.0.1:8000/v1", http2=False
        ),
        "lmstudio": ProviderSettings(
            base_url=env.get("LMSTUDIO_BASE_URL") or "http://127.0.0.1:1234/v1", http2=False
        ),
        "llamacpp": ProviderSettings(
            base_url=env.get("LLAMACPP_BASE_URL") or "http://127.0.0.1:8080/v1", http2=False
        ),
    }


def load_worker_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> WorkerConfig:
    """Built-in providers, overridden by the file at ``path`` (or ``LLM_ORCHESTRATOR_CONFIG``)."""
    env = os.environ if env is None else env
    path = path or env.get("LLM_ORCHESTRATOR_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise OrchestratorError(f"worker config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise OrchestratorError(f"worker config {path}: invalid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise OrchestratorError(f"worker config {path}: expected a mapping at the top")
        data = loaded
    builtin = _builtin(env)
    providers = {}
    for name, entry in (data.get("providers") or {}).items():
        base = builtin.get(name)
        providers[name] = {**(base.model_dump() if base else {}), **(entry or {})}
    try:
        config = WorkerConfig.model_validate(
            {
                **data,
                "providers": {**{k: v.model_dump() for k, v in builtin.items()}, **providers},
                "secrets_file": data.get("secrets_file") or env.get("LLM_ORCHESTRATOR_SECRETS"),
            }
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise OrchestratorError(f"worker config {path}: {problems}") from None
    return config


def read_secret(
    name: str, config: WorkerConfig | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """A key from the environment, else from the secrets file (``NAME=value`` lines, or a
    directory with one file per key).

    The one way keys are read, by providers and vector stores alike; a key read is
    masked in everything the process writes from then on.
    """
    env = os.environ if env is None else env
    value = env.get(name) or _from_file(name, config.secrets_file if config else None)
    remember_secret(value)
    return value


_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_secrets(
    value: str, config: WorkerConfig | None = None, env: Mapping[str, str] | None = None
) -> str:
    """``value`` with every ``${NAME}`` replaced by that secret (:func:`read_secret`).

    A name that is not set is an error: a header or variable silently left empty
    would fail later with a less helpful message.
    """

    def _secret(match: re.Match[str]) -> str:
        found = read_secret(match.group(1), config, env)
        if found is None:
            raise OrchestratorError(f"`${{{match.group(1)}}}` is not set on the worker")
        return found

    return _SECRET_REF.sub(_secret, value)


def _from_file(name: str, file: Path | None) -> str | None:
    if file is None:
        return None
    path = Path(file)
    if path.is_dir():
        candidate = path / name
        return candidate.read_text(encoding="utf-8").strip() if candidate.is_file() else None
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().removeprefix("export ").strip() == name:
            return value.strip().strip("'\"")
    return None

"""What a worker's activities are configured with, read from the environment once.

:meth:`ActivitySettings.from_env` is where a worker reads its ``LLM_ORCHESTRATOR_*``
(and the few standard) variables, at start; everything else receives the
settings object. Two things are read elsewhere, on purpose: provider endpoints
and keys, only by ``activities.providers.config`` (``load_worker_config`` and
``read_secret``, the one function every key goes through), and the
``OTEL_*`` / ``TEMPORAL_*`` variables, by the libraries they belong to.
docs/configuration.md lists every variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from interpreter.contract import SINK_ACTIONS

__all__ = ["CAPTURE_CONTENT_ENV", "ActivitySettings", "default_vectors_dir", "state_dir"]

VECTORSTORE_PREFIX = "LLM_ORCHESTRATOR_VECTORSTORE_"
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The standard variable that lets GenAI spans carry prompts and replies."""


def _split(value: str | None) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in (value or "").split(",") if part.strip())


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's state directory for llm-orchestrator: ``$XDG_STATE_HOME/llm-orchestrator``
    (``~/.local/state/llm-orchestrator``)."""
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llm-orchestrator"


def default_vectors_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ``database: local`` lives: ``$LLM_ORCHESTRATOR_VECTORS``, else
    ``vectors`` in the state directory."""
    env = os.environ if env is None else env
    if env.get("LLM_ORCHESTRATOR_VECTORS"):
        return Path(env["LLM_ORCHESTRATOR_VECTORS"]).expanduser()
    return state_dir(env) / "vectors"


@dataclass(frozen=True)
class ActivitySettings:
    """Worker-side configuration for step activities."""

    catalog_dir: Path = Path("examples")
    """Directory of workflow files that `{"workflow": NAME}` resolves against."""
    http_allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    """``host`` (ports 80/443) or ``host:port`` entries that `http` actions and webhook
    sinks may call; empty means none. An IP address entry also allows that address
    when it is not public (``127.0.0.1:8080``)."""
    http_allowed_networks: frozenset[str] = field(default_factory=frozenset)
    """Non-public networks (CIDR) that allowed host names may resolve to; by default
    names resolving to loopback, private or link-local addresses are refused."""
    sink_urls: dict[str, str] = field(default_factory=dict)
    """Webhook URL per sink action (publish, queue_review, send_notification, notify)."""
    docs_dir: Path | None = None
    """Documents a missing embedded index (`database: local` or `memory`) is built from."""
    vectors_dir: Path | None = None
    """Where `database: local` keeps its LanceDB tables (None: :func:`default_vectors_dir`)."""
    vector_stores: dict[str, str] = field(default_factory=dict)
    """Store URI per database name, from ``LLM_ORCHESTRATOR_VECTORSTORE_<NAME>``."""
    cache_url: str | None = None
    """The step cache (``LLM_ORCHESTRATOR_CACHE``): a SQLite file path or a
    ``postgresql://`` URL; None: ``step-cache.sqlite3`` in the state directory."""
    capture_content: bool = False
    """Record prompts and replies on GenAI spans (``OTEL_INSTRUMENTATION_GENAI_...``)."""
    env: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    """The environment the settings were read from, for keys of stores opened later
    (None: the process environment at the time a key is read)."""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, catalog_dir: str | Path | None = None
    ) -> ActivitySettings:
        """Read the worker's variables from ``env`` (default: the process environment,
        read once, here); explicit arguments win."""
        env = dict(os.environ) if env is None else env
        sinks = {
            action: env[f"LLM_ORCHESTRATOR_{action.upper()}_URL"]
            for action in SINK_ACTIONS
            if env.get(f"LLM_ORCHESTRATOR_{action.upper()}_URL")
        }
        catalog = Path(catalog_dir or env.get("LLM_ORCHESTRATOR_CATALOG", "examples"))
        docs = env.get("LLM_ORCHESTRATOR_DOCS")
        stores = {
            key[len(VECTORSTORE_PREFIX) :].lower(): value
            for key, value in env.items()
            if key.startswith(VECTORSTORE_PREFIX) and value
        }
        return cls(
            catalog_dir=catalog,
            http_allowed_hosts=_split(env.get("LLM_ORCHESTRATOR_HTTP_ALLOW")),
            http_allowed_networks=_split(env.get("LLM_ORCHESTRATOR_HTTP_ALLOW_NETWORKS")),
            sink_urls=sinks,
            docs_dir=Path(docs)
            if docs
            else (catalog / "docs" if (catalog / "docs").is_dir() else None),
            vectors_dir=default_vectors_dir(env),
            vector_stores=stores,
            cache_url=env.get("LLM_ORCHESTRATOR_CACHE") or None,
            capture_content=_true(env.get(CAPTURE_CONTENT_ENV)),
            env=env,
        )

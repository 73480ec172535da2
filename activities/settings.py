"""What a worker's activities are configured with (from CLI flags and the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ActivitySettings"]


def _split(value: str | None) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class ActivitySettings:
    """Worker-side configuration for step activities."""

    catalog_dir: Path = Path("examples")
    """Directory of workflow files that `{"workflow": NAME}` resolves against."""
    http_allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    """Hosts that `http` actions and webhook sinks may POST to; empty means none."""
    sink_urls: dict[str, str] = field(default_factory=dict)
    """Webhook URL per sink action (publish, queue_review, send_notification)."""
    docs_dir: Path | None = None
    """Documents a missing embedded index (`database: local` or `memory`) is built from."""
    vectors_dir: Path | None = None
    """Where `database: local` keeps its LanceDB tables (default: the user's state dir)."""
    vector_stores: dict[str, str] = field(default_factory=dict)
    """Store URI per database name, from ``LLM_ORCHESTRATOR_VECTORSTORE_<NAME>``."""

    @classmethod
    def from_env(cls, *, catalog_dir: str | Path | None = None) -> ActivitySettings:
        """Read ``LLM_ORCHESTRATOR_*`` variables; explicit arguments win."""
        env = os.environ
        sinks = {
            action: env[f"LLM_ORCHESTRATOR_{action.upper()}_URL"]
            for action in ("publish", "queue_review", "send_notification", "notify")
            if env.get(f"LLM_ORCHESTRATOR_{action.upper()}_URL")
        }
        catalog = Path(catalog_dir or env.get("LLM_ORCHESTRATOR_CATALOG", "examples"))
        docs = env.get("LLM_ORCHESTRATOR_DOCS")
        prefix = "LLM_ORCHESTRATOR_VECTORSTORE_"
        stores = {
            key[len(prefix) :].lower(): value
            for key, value in env.items()
            if key.startswith(prefix) and value
        }
        return cls(
            catalog_dir=catalog,
            http_allowed_hosts=_split(env.get("LLM_ORCHESTRATOR_HTTP_ALLOW")),
            sink_urls=sinks,
            docs_dir=Path(docs)
            if docs
            else (catalog / "docs" if (catalog / "docs").is_dir() else None),
            vectors_dir=Path(env["LLM_ORCHESTRATOR_VECTORS"])
            if env.get("LLM_ORCHESTRATOR_VECTORS")
            else None,
            vector_stores=stores,
        )

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
    """Documents the offline in-memory vector store indexes on first use."""

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
        return cls(
            catalog_dir=catalog,
            http_allowed_hosts=_split(env.get("LLM_ORCHESTRATOR_HTTP_ALLOW")),
            sink_urls=sinks,
            docs_dir=Path(docs)
            if docs
            else (catalog / "docs" if (catalog / "docs").is_dir() else None),
        )

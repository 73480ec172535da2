"""Settings for a worker the CLI starts (`worker`, and `run`'s in-process worker).

Checked before connecting, so a wrong path or config file is one plain line and
exit 3 instead of a run that fails later. The catalog (``--catalog``, else
``LLM_ORCHESTRATOR_CATALOG``, else ``./examples``) must exist: outside a checkout
of this repository there is no ``./examples``, and the worker says so instead of
serving an empty catalog.
"""

from __future__ import annotations

from pathlib import Path

from activities import ActivitySettings, WorkerConfig
from activities.providers.config import load_worker_config
from interpreter.errors import OrchestratorError
from llm_orchestrator.exits import SetupError

__all__ = ["activity_settings", "worker_config"]


def activity_settings(catalog: Path | None, *, require_catalog: bool = True) -> ActivitySettings:
    """Activity settings from the environment; the catalog directory checked if required."""
    settings = ActivitySettings.from_env(catalog_dir=catalog)
    found = settings.catalog_dir
    if require_catalog and not found.is_dir():
        shown = str(found) if found.is_absolute() else f"./{found}"
        what = "is not a directory" if found.exists() else "does not exist"
        raise SetupError(
            f"catalog directory {shown} {what}; pass --catalog DIR (a directory of workflow "
            "files) or set LLM_ORCHESTRATOR_CATALOG"
        )
    return settings


def worker_config(path: str | None) -> WorkerConfig:
    """The worker config file (``--config`` or ``LLM_ORCHESTRATOR_CONFIG``); errors are exit 3."""
    try:
        return load_worker_config(path)
    except OrchestratorError as exc:
        raise SetupError(str(exc)) from None

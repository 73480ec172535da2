"""Links into the Temporal Web UI for the runs the CLI starts and shows.

The base URL is ``--ui-url`` or ``LLM_ORCHESTRATOR_UI_URL``; without either it is
guessed only where it is known: the embedded dev server (Web UI on
http://127.0.0.1:8233 next to a frontend on port 7233) and Temporal Cloud.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["DEV_SERVER_UI", "run_url", "ui_base"]

DEV_SERVER_UI = "http://127.0.0.1:8233"


def ui_base(configured: str | None, target_host: str) -> str | None:
    """The Web UI's base URL for a client connected to ``target_host``, if known."""
    if configured:
        return configured.rstrip("/")
    host, _, port = target_host.rpartition(":")
    if host in ("127.0.0.1", "localhost") and port == "7233":
        return DEV_SERVER_UI
    if host.endswith(".tmprl.cloud"):
        return "https://cloud.temporal.io"
    return None


def run_url(base: str, namespace: str, workflow_id: str, run_id: str | None) -> str:
    """The page of one run (its latest run when ``run_id`` is unknown)."""
    url = f"{base}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"
    return f"{url}/{run_id}" if run_id else url

"""Starting fast: what `--help` and `validate` import, eager starts of `run`, and catalog
names resolved by the CLI. Imports are checked in a fresh interpreter; runs are real CLI
processes against the real Temporal dev server. Nothing here times anything."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from interpreter.contract import ACTIVITY_RESOLVE_WORKFLOW
from interpreter.contract import DEFAULT_TASK_QUEUE as CONTRACT_TASK_QUEUE
from llm_orchestrator.options import DEFAULT_TASK_QUEUE
from tests.llm_orchestrator.test_run_management import ROOT, _env
from tests.llm_orchestrator.test_run_management import _cli_async as _acli

SMALL = str(ROOT / "examples" / "sentiment-analysis.yaml")

HEAVY = (
    "temporalio.client",
    "temporalio.worker",
    "temporalio.service",
    "activities",
    "lancedb",
    "pyarrow",
    "pinecone",
    "weaviate",
    "opentelemetry",
    "httpx",
    "mcp",
    "shtab",
)
"""Not needed to print help or check a file: imported only by the commands that use them."""

_PROBE = """
import contextlib, io, json, sys
from llm_orchestrator.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for argv in json.loads(sys.argv[1]):
        try:
            main(argv)
        except SystemExit:
            pass
print(json.dumps(sorted(sys.modules)))
"""


def _imported_after(*argvs: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after running these CLI commands."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argvs)],
        cwd=ROOT, env=_env(ROOT / ".no-such-state"), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def _heavy(modules: set[str], also: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        m for m in modules if any(m == h or m.startswith(h + ".") for h in (*HEAVY, *also))
    )


def test_help_imports_neither_temporal_nor_the_language_models() -> None:
    modules = _imported_after(["--help"], ["run", "--help"], ["worker", "--help"])
    assert "llm_orchestrator.commands" in modules  # the probe did build the whole parser
    assert _heavy(modules, also=("pydantic", "interpreter.models", "yaml", "jinja2")) == []


def test_validate_imports_the_language_only() -> None:
    modules = _imported_after(["validate", SMALL], ["graph", SMALL])
    assert "interpreter.library" in modules  # the probe did validate the file
    assert _heavy(modules) == []


def test_validate_imports_the_schema_checker_only_for_a_file_with_a_schema(
    tmp_path: Path,
) -> None:
    # `jsonschema` (~35 ms) and `asyncio` (~20 ms) are a run's, or a schema's, needs
    assert _heavy(_imported_after(["validate", SMALL]), ("jsonschema", "asyncio")) == []
    bad = tmp_path / "bad-schema.yaml"
    bad.write_text(
        "name: s\nsteps:\n  - id: a\n    type: llm\n    prompt: hi\n"
        "    response_format: {schema: {type: 12}}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "llm_orchestrator", "validate", str(bad)],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "not a valid JSON Schema at type" in result.stderr


def test_the_clis_default_task_queue_is_the_contracts() -> None:
    assert DEFAULT_TASK_QUEUE == CONTRACT_TASK_QUEUE


# --- runs ---------------------------------------------------------------------------------


async def _history(client: Client, workflow_id: str) -> list[Any]:
    return [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]


def _started_input(events: list[Any]) -> dict[str, Any]:
    started = events[0].workflow_execution_started_event_attributes
    return json.loads(started.input.payloads[0].data)  # type: ignore[no-any-return]


def _activity_types(events: list[Any]) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def _queue() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.mark.asyncio(loop_scope="session")
async def test_run_starts_eagerly_and_resolves_a_catalog_name_itself(
    tmp_path: Path, client: Client
) -> None:
    address = client.service_client.config.target_host
    run_id = f"by-name-{uuid.uuid4().hex[:8]}"
    # `text=5`: with the catalog read here, the declared string input stays the text "5"
    result = await _acli(tmp_path, "run", "sentiment-analysis", "-i", "text=5", "--offline",
                         "--json", "--catalog", str(ROOT / "examples"), "--id", run_id,
                         "--address", address, "--task-queue", _queue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = await _history(client, run_id)
    started = events[0].workflow_execution_started_event_attributes
    assert started.eager_execution_accepted  # the in-process worker got the first task
    sent = _started_input(events)
    assert sent["workflow"] is None and sent["definition"]["name"] == "sentiment-analysis"
    assert sent["inputs"] == {"text": "5"}
    assert ACTIVITY_RESOLVE_WORKFLOW not in _activity_types(events)  # no round trip for it
    assert "step_llm" in _activity_types(events)

    # the run still goes by its name
    status = await _acli(tmp_path, "status", run_id, "--json", "--address", address)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["workflow"] == "sentiment-analysis"
    described = await client.get_workflow_handle(run_id).describe()
    assert await described.static_summary() == "sentiment-analysis v1.0"


@pytest.mark.asyncio(loop_scope="session")
async def test_start_sends_a_catalog_name_for_the_workers_to_resolve(
    tmp_path: Path, client: Client, task_queue: str, worker_for: Any
) -> None:
    address = client.service_client.config.target_host
    run_id = f"remote-{uuid.uuid4().hex[:8]}"
    started = await _acli(tmp_path, "start", "sentiment-analysis", "-i", "text=Great!",
                          "--offline", "--id", run_id, "--address", address,
                          "--task-queue", task_queue)  # fmt: skip
    assert started.returncode == 0, started.stderr
    async with worker_for():
        waited = await _acli(tmp_path, "result", run_id, "--json", "--address", address)
    assert waited.returncode == 0, waited.stderr
    events = await _history(client, run_id)
    assert not events[0].workflow_execution_started_event_attributes.eager_execution_accepted
    assert _started_input(events)["workflow"] == "sentiment-analysis"
    assert _activity_types(events)[0] == ACTIVITY_RESOLVE_WORKFLOW

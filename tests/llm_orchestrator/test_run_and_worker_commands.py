"""The README's main command and the worker entry points, as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from llm_orchestrator.devserver import port_open
from tests.helpers.runs import start_run

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "llm_orchestrator.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-temporal-config.toml")
    return env


@pytest.mark.skipif(port_open("127.0.0.1", 7233), reason="something already listens on 7233")
@pytest.mark.timeout(240)  # starts and stops a whole dev server; the run may take 180 s
def test_run_starts_the_embedded_server_runs_and_stops_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *CLI,
            "run",
            "examples/sentiment-analysis.yaml",
            "--input",
            "@examples/sentiment-analysis.input.json",
            "--offline",
            "--json",
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "starting the embedded dev server" in result.stderr
    assert "✓ extract_sentiment completed" in result.stderr
    output = json.loads(result.stdout)
    assert output["outputs"]["sentiment"] == "positive"
    assert output["steps"]["log_result"]["status"] == "completed"
    # the run's history stays in the user's state dir; the server is gone
    assert (tmp_path / "state/llm-orchestrator/temporal.db").is_file()
    assert not port_open("127.0.0.1", 7233)


def test_run_reports_a_bad_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - id: a\n    type: transform\n    depends_on: [b]\n")
    result = subprocess.run(
        [*CLI, "run", str(bad)], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{bad}:3:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state/llm-orchestrator").exists()


@pytest.mark.asyncio(loop_scope="session")
async def test_python_worker_py_serves_catalog_runs_and_stops_on_sigterm(
    temporal_env: WorkflowEnvironment, client: Client, tmp_path: Path
) -> None:
    task_queue = f"proc-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    process = subprocess.Popen(
        [sys.executable, "worker.py", "--address", address, "--task-queue", task_queue],
        cwd=ROOT,
        env=_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        handle = await start_run(
            client,
            task_queue,
            {"workflow": "support-triage", "inputs": {"ticket": "Export fails"}, "offline": True},
        )
        result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result.outputs["path"] == "normal"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"task queue `{task_queue}`" in stderr


def test_server_command_is_the_dev_server_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = 17400
    process = subprocess.Popen(
        [*CLI, "server", "--port", str(port), "--ui-port", str(port + 1),
         "--db-file", str(tmp_path / "t.db")],
        cwd=ROOT, env=_env(tmp_path), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90  # generous: CI machines are busy
        while time.monotonic() < deadline:
            if port_open("127.0.0.1", port) and port_open("127.0.0.1", port + 1):
                break
            time.sleep(0.1)
        assert port_open("127.0.0.1", port)
        assert port_open("127.0.0.1", port + 1)  # the Web UI
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    # the CLI *became* the server: stopping its PID stops the server
    assert not port_open("127.0.0.1", port)
    assert (tmp_path / "t.db").is_file()


def test_worker_without_a_server_says_what_to_do_instead_of_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "worker.py", "--address", "127.0.0.1:9", "--connect-timeout", "2"],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3  # could not reach Temporal (docs/cli.md)
    assert "cannot connect to Temporal at 127.0.0.1:9" in result.stderr
    assert "llm-orchestrator server" in result.stderr
    assert "Traceback" not in result.stderr

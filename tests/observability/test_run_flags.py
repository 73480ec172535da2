"""`run` serves metrics for its in-process worker and honours the log flags."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.helpers.net import free_port
from tests.observability.conftest import CLI, ROOT, clean_env


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(180)  # the `run` process may take its full 120 s
async def test_run_with_metrics_and_json_logs(client: Client, tmp_path: Path) -> None:
    bind = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [
            *CLI, "run", "examples/sentiment-analysis.yaml",
            "--input", "@examples/sentiment-analysis.input.json", "--offline", "--json",
            "--address", client.service_client.config.target_host,
            "--task-queue", f"run-flags-{free_port()}",
            "--metrics-bind", bind, "--log-format", "json", "--log-level", "INFO",
        ],
        cwd=ROOT, env=clean_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"]["sentiment"] == "positive"
    assert f"metrics on http://{bind}/metrics" in result.stderr
    # progress lines are the CLI's own; every log record is one JSON object
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    # the log step of the example, from the in-process worker, as JSON with its ids
    (logged,) = [r for r in records if r["message"].startswith("log_result · Sentiment")]
    assert logged["step_id"] == "log_result" and logged["workflow_id"].startswith("sentiment")

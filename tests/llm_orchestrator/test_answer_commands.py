"""`approve` and `signal` as people use them: real CLI processes against the real dev server.

The decision goes through the run's `approve` Update, so a wrong step or a second
decision fails at once (exit 1, one line), and so does an answer to a finished run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from interpreter.contract import RunResult
from tests.llm_orchestrator.test_run_management import ROOT, _cli

FLOW = """\
name: gated
steps:
  - id: gate
    type: approval
    message: "Ship {{ inputs.what }}?"
    timeout: 1h
  - id: hold
    type: wait
    depends_on: [gate]
    signal: go
    timeout: 1h
outputs:
  decision: "{{ steps.gate.output }}"
  go: "{{ steps.hold.output }}"
"""


async def _run_cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_cli, tmp_path, *argv)


async def _status_until(tmp_path: Path, address: str, run_id: str, text: str) -> str:
    for _ in range(150):
        status = await _run_cli(tmp_path, "status", run_id, "--address", address)
        if text in status.stdout:
            return status.stdout
        await asyncio.sleep(0.1)
    raise AssertionError(f"status never said {text!r}:\n{status.stdout}")


@pytest.mark.asyncio(loop_scope="session")
async def test_approve_and_signal_answer_a_waiting_run_and_mistakes_fail_at_once(
    tmp_path: Path, client: Client, task_queue: str, worker_for: Any
) -> None:
    address = client.service_client.config.target_host
    flow = tmp_path / "gated.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    run_id = f"gated-{uuid.uuid4().hex[:8]}"
    at = ("--address", address)
    async with worker_for():
        started = await _run_cli(tmp_path, "start", str(flow), "-i", "what=v2", "--id", run_id,
                                 *at, "--task-queue", task_queue)  # fmt: skip
        assert started.returncode == 0, started.stderr
        status = await _status_until(tmp_path, address, run_id, "for step gate")
        assert "a decision (the `approve` Update or signal) for step gate: Ship v2?" in status

        wrong = await _run_cli(tmp_path, "approve", run_id, "nope", *at)
        assert wrong.returncode == 1
        assert wrong.stderr.strip() == (
            f"error: run {run_id}: step `nope` is not waiting for an approval (waiting: gate)"
        )

        approved = await _run_cli(tmp_path, "approve", run_id, "gate", "--by", "ana",
                                  "--comment", "looks fine", "--data", '{"ticket": 7}',
                                  *at)  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.strip() == f"run {run_id}: step `gate` approved"

        again = await _run_cli(tmp_path, "approve", run_id, "gate", "--reject", *at)
        assert again.returncode == 1
        assert again.stderr.strip() == f"error: run {run_id}: step `gate` was already decided"

        await _status_until(tmp_path, address, run_id, "signal `go` for step hold")
        sent = await _run_cli(tmp_path, "signal", run_id, "go", "--data", "ready", *at)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == f"signal `go` sent to {run_id}"

        result = await client.get_workflow_handle(run_id, result_type=RunResult).result()
        assert result.outputs["decision"] == {
            "approved": True, "by": "ana", "comment": "looks fine", "data": {"ticket": 7},
            "timed_out": False,
        }  # fmt: skip
        assert result.outputs["go"] == "ready"

    late = await _run_cli(tmp_path, "approve", run_id, "gate", *at)
    assert late.returncode == 1
    assert late.stderr.strip() == f"error: run {run_id} is already completed"
    late_signal = await _run_cli(tmp_path, "signal", run_id, "go", *at)
    assert late_signal.returncode == 1
    assert late_signal.stderr.strip() == f"error: run {run_id} is already completed"
    unknown = await _run_cli(tmp_path, "approve", f"nobody-{run_id}", "gate", *at)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"error: no run with id nobody-{run_id}"


@pytest.mark.asyncio(loop_scope="session")
async def test_the_readme_review_flow_of_content_moderation(
    tmp_path: Path, client: Client, task_queue: str, worker_for: Any
) -> None:
    address = client.service_client.config.target_host
    at = ("--address", address)
    run_id = f"review-{uuid.uuid4().hex[:8]}"
    async with worker_for():
        flow = str(ROOT / "examples" / "content-moderation.yaml")
        started = await _run_cli(tmp_path, "start", flow, "-i", "content=Buy now!", "--offline",
                                 "--mock", 'classify={"label": "review"}', "--id", run_id, *at,
                                 "--task-queue", task_queue)  # fmt: skip
        assert started.returncode == 0, started.stderr
        status = await _status_until(tmp_path, address, run_id, "for step human_review")
        assert "for step human_review: Publish this content by anonymous? Buy now!" in status
        approved = await _run_cli(tmp_path, "approve", run_id, "human_review", "--by", "ana", *at)
        assert approved.returncode == 0, approved.stderr
        result = await _run_cli(tmp_path, "result", run_id, "--json", *at)
        assert result.returncode == 0, result.stderr
        steps = json.loads(result.stdout)["steps"]
        assert steps["publish_reviewed"]["status"] == "completed"
        assert steps["human_review"]["output"]["by"] == "ana"

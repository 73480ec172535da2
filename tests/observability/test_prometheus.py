"""A real Prometheus scrapes a real worker process running every example (offline)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from interpreter.contract import RunResult
from tests.conftest import EXAMPLES
from tests.helpers.net import free_port
from tests.helpers.runs import start_run
from tests.observability.conftest import ROOT, clean_env, cli_worker, wait_for

PROMETHEUS = shutil.which("prometheus")
ACTIVITY_STEP_TYPES = {"llm", "embed", "vector_search", "action"}
"""Steps that run as activities (a `transform` is computed in the workflow: no series)."""
IN_WORKFLOW = "in workflow"
"""The reason of a step computed in the workflow (a `log` action too): no series."""

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="Debian's `prometheus` package is not installed "
    "(apt-get install -y --no-install-recommends prometheus)",
)


def promql(base: str, query: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "llm-orchestrator-worker", "static_configs": [{"targets": [target]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    assert PROMETHEUS is not None
    with (tmp_path / "prometheus.log").open("wb") as log:  # the process keeps its own copy
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/-/ready")
    return process, base


@pytest.mark.asyncio(loop_scope="session")
# the worker and Prometheus start (up to 120 s each), every example (up to 120 s), then
# Prometheus scrapes (up to 30 s)
@pytest.mark.timeout(420)
async def test_prometheus_counts_the_steps_of_every_example_by_type(
    client: Client, tmp_path: Path
) -> None:
    task_queue = f"prom-{uuid.uuid4().hex[:8]}"
    metrics = f"127.0.0.1:{free_port()}"
    args = [
        "--address", client.service_client.config.target_host,
        "--task-queue", task_queue,
        "--catalog", str(EXAMPLES),
        "--metrics-bind", metrics,
    ]  # fmt: skip
    with cli_worker(args, clean_env(tmp_path), tmp_path / "worker.log"):
        wait_for(f"http://{metrics}/metrics")
        prometheus, base = start_prometheus(tmp_path, metrics)
        try:
            runs = []
            for source in sorted(EXAMPLES.glob("*.yaml")):
                if "type: agent" in source.read_text():
                    # its tool calls are child runs: their steps count on this queue but
                    # are not in the parent's result, which this test counts from
                    continue
                inputs = json.loads(source.with_suffix(".input.json").read_text())
                handle = await start_run(
                    client,
                    task_queue,
                    {"workflow": source.stem, "inputs": inputs, "offline": True},
                )
                runs.append(handle.result())
            results: list[RunResult] = await asyncio.wait_for(asyncio.gather(*runs), 120)
            expected: Counter[str] = Counter()
            for result in results:
                for record in result.steps.values():
                    ran = record.status != "skipped" and record.reason != IN_WORKFLOW
                    if record.type in ACTIVITY_STEP_TYPES and ran:
                        expected[record.type] += max(record.attempts, 1)
            assert len(results) >= 5 and set(expected) == ACTIVITY_STEP_TYPES

            query = (
                "sum by (step_type) "
                f'(llm_orchestrator_step_duration_seconds_count{{task_queue="{task_queue}"}})'
            )
            seen: dict[str, int] = {}
            deadline = time.monotonic() + 30
            while seen != dict(expected) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                rows = promql(base, query)
                seen = {row["metric"]["step_type"]: int(float(row["value"][1])) for row in rows}
            assert seen == dict(expected)

            # the SDK's metrics arrive through the same scrape
            completed = promql(
                base, f'sum(temporal_workflow_completed{{task_queue="{task_queue}"}})'
            )
            assert int(float(completed[0]["value"][1])) == len(results)
            up = promql(base, 'up{job="llm-orchestrator-worker"}')
            assert [row["value"][1] for row in up] == ["1"]

            # every query of the shipped dashboard is valid PromQL for this Prometheus
            dashboard = json.loads(
                (ROOT / "deploy/grafana/dashboards/llm-orchestrator.json").read_text()
            )
            for panel in dashboard["panels"]:
                for target in panel.get("targets", []):
                    expr = (
                        target["expr"]
                        .replace("$__rate_interval", "1m")
                        .replace("$__range", "5m")
                        .replace("$task_queue", task_queue)
                    )
                    promql(base, expr)  # raises unless status is success
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)

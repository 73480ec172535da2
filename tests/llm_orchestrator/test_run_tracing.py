"""`run` with tracing on gives one trace for the run: its own progress polling is not traced."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.client import Client

from tests.llm_orchestrator.test_run_management import _cli
from tests.observability.test_otlp_export import http_collector


def test_run_polls_progress_without_a_trace_per_query(tmp_path: Path, client: Client) -> None:
    flow = tmp_path / "pause.yaml"
    flow.write_text(
        "name: pause\nsteps:\n  - id: nap\n    type: wait\n    duration: 2s\n", encoding="utf-8"
    )
    with http_collector() as (collector, endpoint):
        result = _cli(tmp_path, "run", str(flow), "--address",
                      client.service_client.config.target_host,
                      "--task-queue", f"t-{uuid.uuid4().hex[:8]}",
                      OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                      OTEL_BSP_SCHEDULE_DELAY="100")  # fmt: skip
        assert result.returncode == 0, result.stderr
    names = [span.name for _, span in collector.spans]
    assert not [n for n in names if n.startswith("QueryWorkflow")], names
    assert "StartWorkflow:DagWorkflow" in names
    assert len({span.trace_id for _, span in collector.spans}) == 1, names

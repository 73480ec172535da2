"""A run's result is compact: outputs and each step's status; full records via the query."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from interpreter.contract import QUERY_PROGRESS, Progress, RunResult
from tests.helpers.runs import start_run

HISTORIES = Path(__file__).parents[1] / "replay" / "histories"

_CHAIN: dict[str, Any] = {
    "name": "chain",
    "steps": [
        {"id": "a", "type": "transform", "template": "{{ 'x' * 200 }}"},
        {"id": "b", "type": "transform", "template": "{{ steps.a.output }}!", "depends_on": ["a"]},
        {"id": "c", "type": "transform", "template": "{{ steps.b.output }}?", "depends_on": ["b"]},
        {"id": "never", "type": "transform", "template": "-", "when": "{{ false }}"},
    ],
    "outputs": {"last": "{{ steps.c.output }}"},
}


async def _completed_bytes(handle: Any) -> int:
    history = await handle.fetch_history()
    event = next(
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    )
    return sum(
        len(p.data) for p in event.workflow_execution_completed_event_attributes.result.payloads
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_the_result_carries_statuses_and_the_query_the_records(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        compact = await start_run(client, task_queue, {"definition": _CHAIN, "records": False})
        result = await compact.result()
        # a finished run still answers the query (a worker replays it)
        progress = await compact.query(QUERY_PROGRESS, result_type=Progress)
        full = await start_run(client, task_queue, {"definition": _CHAIN, "records": True})
        with_records = await full.result()
    assert result.outputs == {"last": "x" * 200 + "!?"}
    assert result.status == {
        "a": "completed",
        "b": "completed",
        "c": "completed",
        "never": "skipped",
    }
    assert result.steps == {}
    assert progress.steps["b"].output == "x" * 200 + "!" and progress.steps["b"].attempts == 1
    assert progress.steps["never"].reason == "`when` was false"
    assert with_records.steps["c"].output == "x" * 200 + "!?"
    assert with_records.statuses() == result.statuses()
    # the step outputs are no longer repeated in the run's last event
    assert await _completed_bytes(compact) < (await _completed_bytes(full)) / 3


def test_results_of_older_runs_still_read() -> None:
    history = json.loads((HISTORIES / "sentiment-analysis.definition.json").read_text())
    completed = history["events"][-1]["workflowExecutionCompletedEventAttributes"]
    old = RunResult.model_validate_json(
        base64.b64decode(completed["result"]["payloads"][0]["data"])
    )
    assert old.status == {} and old.steps
    assert old.statuses() == {
        "extract_sentiment": "completed",
        "generate_response": "completed",
        "log_result": "completed",
    }

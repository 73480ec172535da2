"""A vector query against the embedded store runs as a local activity: no task-queue trip.

Its result is recorded in a ``core_local_activity`` marker instead of three activity
events; a text query (embedded by a provider, a network call) stays an activity. Runs
recorded before (``tests/replay/histories/rag-pipeline.*``) scheduled the activity and
still replay with it (the ``steps-in-workflow-2`` patch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from interpreter.contract import ACTIVITY_VECTOR_SEARCH
from tests.helpers.replay import assert_replays
from tests.helpers.runs import outcome, start_run

FLOW = Path(__file__).parents[1] / "replay" / "flows" / "local-vector-search.yaml"
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def _scheduled(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def _markers(history: WorkflowHistory) -> list[str]:
    return [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]


async def test_a_vector_query_on_the_embedded_store_is_a_local_activity(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition = yaml.safe_load(FLOW.read_text())
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": definition, "offline": True})
        result, error = await outcome(handle)
        history = await handle.fetch_history()
    assert error is None and result is not None
    # the same hits either way: the text query is embedded by the same offline model
    assert result.outputs == {"same_first": True}
    by_vector = result.steps["by_vector"]
    assert (by_vector.status, by_vector.attempts) == ("completed", 1)
    assert len(by_vector.output) == 2 and by_vector.outputs == {}
    # one search scheduled (the text query); the vector query left a marker instead
    assert _scheduled(history).count(ACTIVITY_VECTOR_SEARCH) == 1
    assert _markers(history).count(LOCAL_ACTIVITY_MARKER) == 1

    await assert_replays(history)


async def test_a_failing_local_search_fails_its_step_with_the_stores_message(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition: dict[str, Any] = {
        "name": "missing-index",
        "steps": [
            {"id": "search", "type": "vector_search", "index": "nowhere", "query": [0.1, 0.2]},
        ],
    }
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": definition, "offline": True})
        _, error = await outcome(handle)
        history = await handle.fetch_history()
    assert error is not None, "a search of an index that does not exist must fail the run"
    assert "search" in error and "nowhere" in error, error
    assert ACTIVITY_VECTOR_SEARCH not in _scheduled(history)
    assert LOCAL_ACTIVITY_MARKER in _markers(history)

"""The built-in `log` action is computed in the workflow: its line once, no activity.

Runs recorded before (the examples' histories in ``tests/replay``) scheduled the
``step_action`` activity for it and still replay with it (the ``steps-in-workflow-2`` patch).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import ActivityEnvironment

from activities.action import ActionActivities
from activities.settings import ActivitySettings
from interpreter.fields import Defaults
from interpreter.steps import ActionStep, RunFacts, action, kind_of
from tests.helpers.replay import assert_replays
from tests.helpers.runs import outcome, start_run

LOGS: dict[str, Any] = {
    "name": "logs",
    "inputs": {"who": {"type": "string"}},
    "steps": [
        {
            "id": "hello",
            "type": "action",
            "action": "log",
            "params": {"message": "hi {{ inputs.who }}"},
        },
        {
            "id": "as_json",
            "type": "action",
            "action": "log",
            "params": {"who": "{{ inputs.who }}", "n": 2},
            "depends_on": ["hello"],
        },
        {"id": "shout", "type": "transform", "function": "upper", "inputs": "{{ inputs.who }}"},
    ],
    "outputs": {
        "said": "{{ steps.hello.output }}",
        "json": "{{ steps.as_json.output }}",
        "shouted": "{{ steps.shout.output }}",
    },
}


def _activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage().split(" ({")[0] for r in caplog.records if r.name == "temporalio.workflow"
    ]


def test_only_the_log_action_is_computed_in_the_workflow() -> None:
    log = ActionStep(id="a", type="action", action="log")
    notify = ActionStep(id="b", type="action", action="notify")
    assert kind_of(log) is action.LOG_KIND
    assert kind_of(notify) is action.KIND
    assert action.LOG_KIND.replays_with is action.KIND


async def test_a_log_action_runs_in_the_workflow_and_writes_its_line_once(
    client: Client, task_queue: str, worker_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="temporalio.workflow")
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": LOGS, "inputs": {"who": "ada"}})
        result, error = await outcome(handle)
        history = await handle.fetch_history()
    assert error is None and result is not None
    assert result.outputs == {"said": "hi ada", "json": '{"who": "ada", "n": 2}', "shouted": "ADA"}
    assert _activities(history) == []
    # logs and a transform in one run: one patch marker (each costs an event and an upsert)
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) == 1
    for step_id in ("hello", "as_json"):
        record = result.steps[step_id]
        assert (record.status, record.reason, record.attempts) == ("completed", "in workflow", 1)
    assert _lines(caplog) == ["hello · hi ada", 'as_json · {"who": "ada", "n": 2}']

    # replaying the run (a worker whose cache evicted it) writes no line again
    caplog.clear()
    await assert_replays(history)
    assert _lines(caplog) == []


@pytest.mark.parametrize(
    "params",
    [{"message": "plain"}, {"message": 3, "x": [1, 2]}, {"a": {"b": None}}, {}],
    ids=["message", "message-not-text", "no-message", "empty"],
)
async def test_the_workflow_writes_what_the_activity_wrote(params: dict[str, Any]) -> None:
    step = ActionStep(id="say", type="action", action="log", params=params)
    # what the workflow's `log` computes (it runs only in a workflow: its logger needs one)
    computed = action.log_line(params)
    call = action.KIND.call(step, {"params": params}, RunFacts(Defaults(), False, "w", "r"))
    async with httpx.AsyncClient() as http:
        activities = ActionActivities(ActivitySettings(), http)
        returned = await ActivityEnvironment().run(activities.run, call.payload)
    assert computed == returned.output

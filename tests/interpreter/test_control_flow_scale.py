"""How `map` and `loop` grow with their size, on the real dev server (figures for the full
sizes: ``bench/bench_map.py`` and docs/performance.md).

Two are known gaps of the interpreter, kept as strict xfails so they flip when fixed:
a loop's parent history grows by a child per iteration with no continue-as-new, and a
map's batch children each get a copy of the run's whole ``inputs``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from interpreter.contract import RunResult
from tests.interpreter.test_workflow_run import start

pytestmark = pytest.mark.asyncio(loop_scope="session")

HISTORY_EVENT_LIMIT = 51_200
"""Temporal's default ``limit.historyCount.error``: the server terminates a run beyond it."""


def _loop(iterations: int) -> dict[str, Any]:
    body = [{"id": "tick", "type": "transform", "template": "{{ loop.index }}"}]
    return {
        "name": "loop",
        "steps": [{"id": "l", "type": "loop", "max_iterations": iterations, "steps": body}],
    }


@pytest.mark.xfail(
    strict=True,
    reason="interpreter/steps/loop.py: a child per iteration, no continue-as-new; "
    "max_iterations allows 10,000 but ~9 parent events per iteration exceed 51,200 events",
)
async def test_a_loop_at_max_iterations_stays_under_the_history_event_limit(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    events = {}
    async with worker_for():
        for iterations in (10, 20):
            handle = await start(client, task_queue, {"definition": _loop(iterations)})
            result: RunResult = await asyncio.wait_for(handle.result(), 120)
            assert result.steps["l"].output["iterations"] == iterations
            events[iterations] = len((await handle.fetch_history()).events)
    per_iteration = (events[20] - events[10]) / 10
    projected = events[10] + per_iteration * (10_000 - 10)
    assert projected < HISTORY_EVENT_LIMIT, (
        f"{per_iteration:g} parent events per iteration: 10,000 iterations ≈ {projected:,.0f}"
    )


async def test_map_batches_do_not_carry_inputs_their_body_does_not_read(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition = {
        "name": "m",
        "inputs": {"articles": {"type": "array"}},
        "steps": [
            {
                "id": "each",
                "type": "map",
                "items": "{{ inputs.articles }}",
                "step": {"type": "transform", "template": "{{ item }}"},
            }
        ],
    }
    articles = [f"a{i}" for i in range(100)]
    async with worker_for():
        handle = await start(
            client, task_queue, {"definition": definition, "inputs": {"articles": articles}}
        )
        await asyncio.wait_for(handle.result(), 120)
        starts = [
            e.start_child_workflow_execution_initiated_event_attributes
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        ]
    assert len(starts) == 2
    for attributes in starts:
        request = json.loads(attributes.input.payloads[0].data)
        assert "articles" not in request["inputs"], "the whole item list went to a batch"

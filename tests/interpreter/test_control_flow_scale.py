"""How `map` and `loop` grow with their size, on the real dev server (figures for the full
sizes: ``bench/bench_map.py`` and docs/performance.md).

A long loop runs in segments, and a map's batches get only the inputs their body reads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from interpreter.contract import RunResult
from interpreter.steps.loop import SEGMENT
from tests.helpers.runs import start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

HISTORY_EVENT_LIMIT = 51_200
"""Temporal's default ``limit.historyCount.error``: the server terminates a run beyond it."""


def _loop(iterations: int) -> dict[str, Any]:
    body = [{"id": "tick", "type": "transform", "template": "{{ loop.index }}"}]
    return {
        "name": "loop",
        "steps": [{"id": "l", "type": "loop", "max_iterations": iterations, "steps": body}],
    }


async def test_a_long_loop_runs_in_segments_and_its_history_stays_small(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    """More than SEGMENT iterations run in segment children: the parent holds a few
    children, not one per iteration; indexes, `previous` and `until` carry across."""
    definition = _loop(230)
    definition["steps"][0]["until"] = "steps.tick.output >= 150"
    definition["steps"][0]["steps"].append(
        {
            "id": "prev",
            "type": "transform",
            "template": "{{ loop.previous.tick if loop.previous else -1 }}",
        }
    )
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": definition})
        result: RunResult = await asyncio.wait_for(handle.result(), 300)
        events = len((await handle.fetch_history()).events)
    assert result.steps["l"].output == {"iterations": 151, "last": {"tick": 150, "prev": 149}}
    assert events < 60, f"{events} parent events for 151 iterations in 2 segments"
    assert SEGMENT * 9 * 1.2 < HISTORY_EVENT_LIMIT / 10  # a segment's history stays small


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
        handle = await start_run(
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

"""Record histories for the replay tests: the examples, and the control-flow runs in ``flows/``.

Run on demand after a *deliberate* change to the command sequence (and guard the
change with ``workflow.patched``):
``python -m tests.replay.record [examples|flows] [NAME ...]`` (both by default;
naming examples or flows records only those). The replay test then keeps old histories
replaying against the current interpreter.

Each example runs twice (by definition and by catalog name). Each file in ``flows/``
runs once by definition, with the workflows it names pinned (``library``) and the
inputs of ``NAME.input.json`` if there is one; the recorder answers what the run
waits for as a person would: an `approval` through the ``approve`` Update, a `wait`
by sending its signal. A wait with a timeout under :data:`LEFT_TO_TIME_OUT` seconds
is left to time out. The histories of the child runs (map batches, loop iterations,
sub-workflows) are recorded too. A history's file is named for its workflow id, with ``~``
for ``/`` (``loop-until.flow~refine~0.json``): child ids derive from the parent's, so the
replay test needs each run's own id back.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, WorkerActivities
from interpreter.contract import (
    QUERY_PROGRESS,
    UPDATE_APPROVE,
    WORKFLOW_TYPE,
    Decision,
    Progress,
    RunResult,
)
from interpreter.library import load_with_library
from llm_orchestrator.devserver import TUNING_ARGS, find_binary
from llm_orchestrator.worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = Path(__file__).parent / "histories"
FLOWS = Path(__file__).parent / "flows"
LEFT_TO_TIME_OUT = 5.0
SIGNAL_PAYLOAD = {"amount": 12}


async def _save(handle: WorkflowHandle[Any, Any], name: str) -> list[str]:
    """Write the run's history to ``histories/NAME.json``; the ids of its child runs."""
    history = await handle.fetch_history()
    target = HISTORIES / f"{name.replace('/', '~')}.json"
    target.write_text(history.to_json() + "\n")
    print(f"recorded {target.relative_to(ROOT)} ({len(history.events)} events)")
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def _answer(handle: WorkflowHandle[Any, RunResult]) -> None:
    """Decide the run's approvals (Update) and send its signals until it finishes."""
    result = asyncio.ensure_future(handle.result())
    answered: set[str] = set()
    while not result.done():
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        for waiting in progress.waiting:
            short = waiting.timeout_s is not None and waiting.timeout_s < LEFT_TO_TIME_OUT
            if waiting.step in answered or short:
                continue
            if waiting.kind == "approval":
                decision = Decision(step=waiting.step, approved=True, by="recorder")
                await handle.execute_update(UPDATE_APPROVE, decision, result_type=str)
            else:
                await handle.signal(waiting.name, SIGNAL_PAYLOAD)
            answered.add(waiting.step)
        await asyncio.wait({result}, timeout=0.1)
    await result


async def _examples(client: Client, task_queue: str, only: set[str]) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        if only and path.stem not in only:
            continue
        inputs = json.loads(path.with_suffix(".input.json").read_text())
        for mode, payload in (
            ("definition", {"definition": yaml.safe_load(path.read_text())}),
            ("catalog", {"workflow": path.stem}),
        ):
            handle = await client.start_workflow(
                WORKFLOW_TYPE,
                {**payload, "inputs": inputs, "offline": True},
                id=f"{path.stem}.{mode}",  # the replay takes the id from the file name
                task_queue=task_queue,
                result_type=RunResult,
            )
            await _answer(handle)  # content-moderation's review path waits for a person
            await _save(handle, f"{path.stem}.{mode}")


async def _flows(client: Client, task_queue: str, only: set[str]) -> None:
    for path in sorted(FLOWS.glob("*.yaml")):
        if only and path.stem not in only:
            continue
        _, library = load_with_library(path)
        given = path.with_suffix(".input.json")
        inputs = json.loads(given.read_text()) if given.exists() else {}
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            {
                "definition": yaml.safe_load(path.read_text()),
                "library": library,
                "inputs": inputs,
                "offline": True,
            },
            id=f"{path.stem}.flow",
            task_queue=task_queue,
            result_type=RunResult,
        )
        await _answer(handle)
        pending = await _save(handle, handle.id)
        while pending:  # every descendant, breadth first
            child = pending.pop(0)
            pending += await _save(client.get_workflow_handle(child), child)


async def record(which: set[str], only: frozenset[str] = frozenset()) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary(),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=list(TUNING_ARGS),
    )
    try:
        activities = WorkerActivities(ActivitySettings(catalog_dir=ROOT / "examples"))
        task_queue = f"record-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, activities, task_queue=task_queue):
            if "examples" in which:
                await _examples(env.client, task_queue, set(only))
            if "flows" in which:
                await _flows(env.client, task_queue, set(only))
        await activities.aclose()
    finally:
        await env.shutdown()


if __name__ == "__main__":
    args = set(sys.argv[1:])
    kinds = args & {"examples", "flows"}
    asyncio.run(record(kinds or {"examples", "flows"}, frozenset(args - kinds)))

"""Record histories of the example runs for the replay tests.

Run on demand after a *deliberate* change to the command sequence (and guard the
change with ``workflow.patched``): ``python -m tests.replay.record``. The replay
test then keeps old histories replaying against the current interpreter.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import yaml
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, WorkerActivities
from interpreter.contract import WORKFLOW_TYPE, RunResult
from llm_orchestrator.devserver import TUNING_ARGS, find_binary
from llm_orchestrator.worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = Path(__file__).parent / "histories"


async def record() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary(),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=list(TUNING_ARGS),
    )
    try:
        activities = WorkerActivities(ActivitySettings(catalog_dir=ROOT / "examples"))
        task_queue = f"record-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, activities, task_queue=task_queue):
            for path in sorted((ROOT / "examples").glob("*.yaml")):
                inputs = json.loads(path.with_suffix(".input.json").read_text())
                for mode, payload in (
                    ("definition", {"definition": yaml.safe_load(path.read_text())}),
                    ("catalog", {"workflow": path.stem}),
                ):
                    handle = await env.client.start_workflow(
                        WORKFLOW_TYPE,
                        {**payload, "inputs": inputs, "offline": True},
                        id=f"{path.stem}-{mode}",
                        task_queue=task_queue,
                        result_type=RunResult,
                    )
                    await handle.result()
                    history = await handle.fetch_history()
                    target = HISTORIES / f"{path.stem}.{mode}.json"
                    target.write_text(history.to_json() + "\n")
                    print(f"recorded {target.relative_to(ROOT)} ({len(history.events)} events)")
        await activities.aclose()
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

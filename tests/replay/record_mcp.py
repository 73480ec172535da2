"""Record the history of a run with an `mcp` step (the reference `mcp-server-time` over
stdio) for the replay tests: ``python -m tests.replay.record_mcp``.

Kept apart from ``record.py``, which records the examples: this run needs an MCP
server configured on the worker, which no example can assume.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, WorkerActivities, WorkerConfig
from activities.providers.config import McpServerSettings
from interpreter.contract import WORKFLOW_TYPE, RunResult
from llm_orchestrator.devserver import TUNING_ARGS, find_binary
from llm_orchestrator.worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).parent / "histories" / "mcp-step.definition.json"

DEFINITION = {
    "name": "mcp-step",
    "inputs": {"zone": {"type": "string", "default": "Asia/Tokyo"}},
    "steps": [
        {
            "id": "convert",
            "type": "mcp",
            "server": "clock",
            "tool": "convert_time",
            "arguments": {
                "source_timezone": "UTC",
                "time": "12:00",
                "target_timezone": "{{ inputs.zone }}",
            },
        },
        {
            "id": "say",
            "type": "transform",
            "depends_on": ["convert"],
            "template": "{{ steps.convert.output.target.datetime }}",
        },
    ],
    "outputs": {"at": "{{ steps.say.output }}"},
}


async def record() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary(),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=list(TUNING_ARGS),
    )
    clock = McpServerSettings(command=sys.executable, args=["-m", "mcp_server_time"])
    activities = WorkerActivities(
        ActivitySettings(catalog_dir=ROOT / "examples"),
        WorkerConfig(mcp_servers={"clock": clock}),
    )
    try:
        async with build_worker(env.client, activities, task_queue="record-mcp"):
            handle = await env.client.start_workflow(
                WORKFLOW_TYPE,
                {"definition": DEFINITION, "inputs": {}},
                id=TARGET.stem,  # the replay test takes the id from the file name
                task_queue="record-mcp",
                result_type=RunResult,
            )
            print((await handle.result()).outputs)
            history = await handle.fetch_history()
            TARGET.write_text(history.to_json() + "\n")
            print(f"recorded {TARGET.relative_to(ROOT)} ({len(history.events)} events)")
    finally:
        await activities.aclose()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

"""Record the history of an `agent` run for the replay tests: ``python -m
tests.replay.record_agent``.

The agent uses every kind of tool in one turn — a workflow (child run), the reference
`mcp-server-time` over stdio and a custom activity that needs a person's approval —
then answers; a call of an unknown tool is in the script too. Kept apart from
``record.py``: it needs an MCP server and a custom activity on the worker, which no
example can assume.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, WorkerActivities, WorkerConfig
from activities.providers.config import McpServerSettings
from interpreter.contract import WORKFLOW_TYPE, RunResult
from llm_orchestrator.devserver import TUNING_ARGS, find_binary
from llm_orchestrator.worker import build_worker
from tests.replay.record import _answer

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).parent / "histories" / "agent-step.definition.json"

LOOKUP = {
    "name": "lookup-order",
    "inputs": {"order": {"type": "string", "description": "The order number"}},
    "steps": [{"id": "find", "type": "transform", "template": "shipped"}],
    "outputs": {"order": "{{ inputs.order }}", "status": "{{ steps.find.output }}"},
}

DEFINITION = {
    "name": "agent-step",
    "inputs": {"order": {"type": "string", "default": "A-17"}},
    "steps": [
        {
            "id": "support",
            "type": "agent",
            "model": "gpt-4o-mini",
            "system": "You answer order questions. Use the tools.",
            "prompt": "Where is order {{ inputs.order }}, and may I have a refund?",
            "max_turns": 4,
            "tools": [
                {"workflow": "lookup-order"},
                {"mcp": "clock", "allow": ["get_current_time"]},
                {
                    "activity": "refund_customer",
                    "description": "Refund an order",
                    "parameters": {
                        "type": "object",
                        "properties": {"order": {"type": "string"}},
                        "required": ["order"],
                    },
                    "approval": "required",
                },
            ],
            "mock_turns": [
                {
                    "tool_calls": [
                        {"name": "lookup-order", "arguments": {"order": "A-17"}},
                        {"name": "get_current_time", "arguments": {"timezone": "UTC"}},
                        {"name": "refund_customer", "arguments": {"order": "A-17"}},
                        {"name": "lookup_invoice", "arguments": {}},
                    ]
                },
                {"text": "A-17 has shipped and is refunded."},
            ],
            "output": ["answer"],
        }
    ],
    "outputs": {"answer": "{{ steps.support.answer }}"},
}


@activity.defn(name="refund_customer")
async def refund_customer(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"refunded": arguments["order"]}


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
    worker = build_worker(
        env.client, activities, task_queue="record-agent", custom_activities=[refund_customer]
    )
    try:
        async with worker:
            handle = await env.client.start_workflow(
                WORKFLOW_TYPE,
                {
                    "definition": DEFINITION,
                    "inputs": {},
                    "offline": True,
                    "library": {"lookup-order": LOOKUP},
                },
                id=TARGET.stem,  # the replay test takes the id from the file name
                task_queue="record-agent",
                result_type=RunResult,
            )
            await _answer(handle)  # approves the refund
            print((await handle.result()).outputs)
            history = await handle.fetch_history()
            TARGET.write_text(history.to_json() + "\n")
            print(f"recorded {TARGET.relative_to(ROOT)} ({len(history.events)} events)")
    finally:
        await activities.aclose()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

"""The `agent` step end to end on the Temporal dev server, offline with `mock_turns`: a
workflow tool (child run), the reference `mcp-server-time` over stdio, a custom activity,
parallel tool calls, and everything that can go wrong with a tool call."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client

from activities import WorkerConfig
from activities.providers.config import McpServerSettings
from interpreter.contract import QUERY_PROGRESS, UPDATE_APPROVE, Decision, Progress, RunResult
from tests.conftest import WorkerFactory
from tests.helpers.runs import failure_of, outcome, run_to_end, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

TIME_SERVER = McpServerSettings(
    command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]
)

LOOKUP_ORDER: dict[str, Any] = {
    "name": "lookup-order",
    "description": "Find an order by its number",
    "inputs": {"order": {"type": "string", "description": "The order number"}},
    "steps": [
        {
            "id": "find",
            "type": "transform",
            "template": "shipped",
        }
    ],
    "outputs": {"order": "{{ inputs.order }}", "status": "{{ steps.find.output }}"},
}

CALLS: list[dict[str, Any]] = []


@activity.defn(name="refund_customer")
async def refund_customer(arguments: dict[str, Any]) -> dict[str, Any]:
    CALLS.append(arguments)
    return {"refunded": arguments["order"], "amount": arguments.get("amount", 0)}


@activity.defn(name="broken_tool")
async def broken_tool(arguments: dict[str, Any]) -> None:
    raise RuntimeError("the ledger is closed")


REFUND_TOOL = {
    "activity": "refund_customer",
    "description": "Refund an order",
    "parameters": {
        "type": "object",
        "properties": {"order": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["order"],
    },
}


def agent(mock_turns: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    step = {
        "id": "support",
        "type": "agent",
        "model": "gpt-4o-mini",
        "system": "You answer order questions. Use the tools.",
        "prompt": "Where is order {{ inputs.order }}?",
        "max_turns": 4,
        "tools": [{"workflow": "lookup-order"}, REFUND_TOOL],
        "mock_turns": mock_turns,
        "output": ["answer"],
        "retry": {"max_attempts": 1},
        **fields,
    }
    return step


def run_input(step: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "definition": {
            "name": "support-agent",
            "inputs": {"order": {"type": "string", "default": "A-17"}},
            "steps": [step],
            "outputs": {
                "answer": "{{ steps.support.answer }}",
                "turns": "{{ steps.support.transcript.turns | length }}",
            },
            **extra,
        },
        "inputs": {},
        "offline": True,
        "library": {"lookup-order": LOOKUP_ORDER},
    }


async def test_tools_of_every_kind_in_parallel_then_an_answer(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    CALLS.clear()
    step = agent(
        [
            {
                "tool_calls": [
                    {"name": "lookup-order", "arguments": {"order": "A-17"}},
                    {"name": "get_current_time", "arguments": {"timezone": "Europe/Paris"}},
                    {"name": "refund_customer", "arguments": {"order": "A-17", "amount": 5}},
                ]
            },
            {"text": "Order A-17 has shipped; I refunded 5."},
        ],
        tools=[{"workflow": "lookup-order"}, {"mcp": "clock", "allow": ["get_current_time"]}, REFUND_TOOL],
    )
    config = WorkerConfig(mcp_servers={"clock": TIME_SERVER})
    async with worker_for(config=config, custom=[refund_customer]):
        handle = await start_run(client, task_queue, run_input(step))
        result, error = await outcome(handle)
    assert error is None, error
    assert result is not None
    assert result.outputs["answer"] == "Order A-17 has shipped; I refunded 5."
    assert result.outputs["turns"] == 2
    record = result.steps["support"]
    transcript = record.transcript
    assert transcript is not None
    calls = {c["name"]: c for c in transcript["turns"][0]["tool_calls"]}
    assert calls["lookup-order"]["result"] == {"order": "A-17", "status": "shipped"}
    assert calls["get_current_time"]["result"]["timezone"] == "Europe/Paris"
    assert calls["refund_customer"]["result"] == {"refunded": "A-17", "amount": 5}
    assert not any(c["is_error"] for c in calls.values())
    assert CALLS == [{"order": "A-17", "amount": 5}]
    # the model saw the user's question, its own calls and the three results
    roles = [m["role"] for m in transcript["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "tool", "assistant"]
    # usage is summed over the turns (the child run's transform spends none)
    per_turn = [t["usage"] for t in transcript["turns"]]
    assert record.usage is not None
    assert record.usage.input_tokens == sum(u["input_tokens"] for u in per_turn) > 0
    assert record.usage.output_tokens == sum(u["output_tokens"] for u in per_turn) > 0
    # the timeline: one activity per turn and per tool call, named for the Web UI
    summaries = await _summaries(handle)
    assert "support · agent turn 1" in summaries and "support · agent turn 2" in summaries
    assert "support · tool get_current_time (turn 1)" in summaries
    assert "support · tool refund_customer (turn 1)" in summaries
    assert "support · tool lookup-order (turn 1)" in summaries  # the child run's summary
    # the three calls ran concurrently: all were scheduled before any finished
    assert await _scheduled_together(handle, 3)


async def _events(handle: Any) -> list[Any]:
    history = await handle.fetch_history()
    return list(history.events)


async def _summaries(handle: Any) -> set[str]:
    from temporalio.converter import DataConverter

    found = set()
    for event in await _events(handle):
        summary = event.user_metadata.summary
        if summary.data:
            found.add(DataConverter.default.payload_converter.from_payload(summary, str))
    return found


async def _scheduled_together(handle: Any, count: int) -> bool:
    """``count`` tool calls (activities or children) were scheduled in one workflow task."""
    from temporalio.api.enums.v1 import EventType

    started = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    }
    run = 0
    best = 0
    for event in await _events(handle):
        if event.event_type in started:
            run += 1
            best = max(best, run)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            continue
        elif event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            run = 0
    return best >= count

"""The `agent` step end to end on the Temporal dev server, offline with `mock_turns`: a
workflow tool (child run), the reference `mcp-server-time` over stdio, a custom activity,
parallel tool calls, and everything that can go wrong with a tool call."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client

from activities import WorkerConfig
from activities.providers.config import McpServerSettings
from interpreter.contract import QUERY_PROGRESS, UPDATE_APPROVE, Decision, Progress
from tests.conftest import WorkerFactory
from tests.fakes.mcp_tools import serve_http
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
        tools=[
            {"workflow": "lookup-order"},
            {"mcp": "clock", "allow": ["get_current_time"]},
            REFUND_TOOL,
        ],
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


async def test_tool_errors_go_back_to_the_model(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    CALLS.clear()
    step = agent(
        [
            {
                "tool_calls": [
                    {"name": "lookup_invoice", "arguments": {"order": "A-17"}},
                    {"name": "refund_customer", "arguments": '{"order": "A-17"'},
                    {"name": "refund_customer", "arguments": {"amount": 5}},
                    {"name": "broken_tool", "arguments": {}},
                ]
            },
            {"text": "Sorry, I could not do it."},
        ],
        tools=[
            {"workflow": "lookup-order"},
            REFUND_TOOL,
            {"activity": "broken_tool", "description": "Always fails"},
        ],
        max_tool_errors=5,
    )
    async with worker_for(custom=[refund_customer, broken_tool]):
        result = await run_to_end(client, task_queue, run_input(step))
    assert result.outputs["answer"] == "Sorry, I could not do it."
    transcript = result.steps["support"].transcript
    assert transcript is not None
    unknown, not_json, bad_schema, raised = transcript["turns"][0]["tool_calls"]
    assert all(c["is_error"] for c in (unknown, not_json, bad_schema, raised))
    assert unknown["result"] == (
        "unknown tool `lookup_invoice`; the tools: `lookup-order`, `refund_customer`, `broken_tool`"
    )
    assert not_json["result"].startswith("the arguments are not valid JSON")
    assert bad_schema["result"] == "invalid arguments: 'order' is a required property"
    assert "the ledger is closed" in raised["result"]
    assert CALLS == []  # nothing ran with bad arguments
    told = [m for m in transcript["messages"] if m["role"] == "tool"]
    assert [m["is_error"] for m in told] == [True] * 4


async def test_max_tool_errors_fails_the_step(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    failing = {"tool_calls": [{"name": "broken_tool", "arguments": {}}]}
    step = agent(
        [failing, failing, failing, {"text": "never"}],
        tools=[{"activity": "broken_tool", "description": "Always fails"}],
        max_tool_errors=2,
    )
    async with worker_for(custom=[broken_tool]):
        error = await failure_of(client, task_queue, run_input(step))
    assert "step `support` failed: 2 tool errors reached max_tool_errors (2)" in error
    assert "the ledger is closed" in error


async def test_max_turns_fails_or_returns_the_last_text(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    again = {"tool_calls": [{"name": "lookup-order", "arguments": {"order": "A-17"}}]}
    turns = [again, again, again]
    async with worker_for():
        error = await failure_of(client, task_queue, run_input(agent(turns, max_turns=2)))
        assert "no final answer after max_turns (2)" in error
        assert "on_max_turns: return_last" in error
        talking = [{"text": "Looking it up.", "tool_calls": again["tool_calls"]}, again]
        step = agent(talking, max_turns=2, on_max_turns="return_last")
        result = await run_to_end(client, task_queue, run_input(step))
    assert result.outputs["answer"] == "Looking it up."
    assert result.steps["support"].reason == "max_turns (2) reached"


async def test_approval_required_waits_for_a_person(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    CALLS.clear()
    refund = {**REFUND_TOOL, "approval": "required"}
    step = agent(
        [
            {"tool_calls": [{"name": "refund_customer", "arguments": {"order": "A-17"}}]},
            {"tool_calls": [{"name": "refund_customer", "arguments": {"order": "B-2"}}]},
            {"text": "Refunded A-17; B-2 was refused."},
        ],
        tools=[refund],
    )
    async with worker_for(custom=[refund_customer]):
        handle = await start_run(client, task_queue, run_input(step))
        for order, approved in (("A-17", True), ("B-2", False)):
            waiting = await _waiting(handle)
            assert waiting.kind == "approval" and waiting.step == "support"
            assert f'tool `refund_customer` with {{"order": "{order}"}}' in (waiting.message or "")
            await handle.execute_update(
                UPDATE_APPROVE,
                Decision(step="support", approved=approved, by="dana", comment="too large"),
            )
        result, error = await outcome(handle)
    assert error is None, error
    assert result is not None
    assert CALLS == [{"order": "A-17"}]  # the rejected call never ran
    transcript = result.steps["support"].transcript
    assert transcript is not None
    second = transcript["turns"][1]["tool_calls"][0]
    assert second["result"] == "rejected by dana: too large" and second["is_error"]


async def _waiting(handle: Any) -> Any:
    for _ in range(200):
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        if progress.waiting:
            return progress.waiting[0]
        await asyncio.sleep(0.05)
    pytest.fail("the run never waited for a decision")


async def test_budget_is_checked_before_every_turn(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    lookup = {"tool_calls": [{"name": "lookup-order", "arguments": {"order": "A-17"}}]}
    step = agent([lookup, lookup, {"text": "done"}])
    async with worker_for():
        error = await failure_of(client, task_queue, run_input(step, budget={"max_tokens": 5}))
    assert "budget exceeded before agent turn 2" in error
    assert "of budget.max_tokens 5" in error


async def test_an_unknown_mcp_server_is_named_with_the_configured_ones(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    step = agent([{"text": "never"}], tools=[{"mcp": "billing"}])
    config = WorkerConfig(mcp_servers={"clock": TIME_SERVER})
    async with worker_for(config=config):
        error = await failure_of(client, task_queue, run_input(step))
    assert "step `support` failed: MCP tools of `billing`:" in error
    # the worker says which servers it has
    assert "no MCP server `billing` is configured on this worker (configured: `clock`" in error


async def test_an_mcp_tool_over_streamable_http(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    """An agent's `mcp:` tool on a server reached over Streamable HTTP on loopback (the
    official SDK's server, tests/fakes/mcp_tools.py): listed, called, result fed back."""
    async with serve_http(tmp_path) as url:
        config = WorkerConfig(mcp_servers={"billing": McpServerSettings(url=url)})
        step = agent(
            [
                {"tool_calls": [{"name": "echo", "arguments": {"text": "invoice A-17"}}]},
                {"text": "echoed"},
            ],
            tools=[{"mcp": "billing", "allow": ["echo"]}],
        )
        async with worker_for(config=config):
            result = await run_to_end(client, task_queue, run_input(step))
    transcript = result.steps["support"].transcript
    assert transcript is not None
    call = transcript["turns"][0]["tool_calls"][0]
    assert call["name"] == "echo" and not call["is_error"]
    assert call["result"]["text"] == "invoice A-17"
    assert call["result"]["pid"] == os.getpid()  # served by the loopback server in this process
    tool_message = next(m for m in transcript["messages"] if m["role"] == "tool")
    assert "invoice A-17" in tool_message["content"]


async def test_a_failed_agent_keeps_its_usage_and_transcript_and_runs_no_tool_on_its_last_turn(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    """Two turns that both ask for a refund: the first refund runs, the second (on the last
    turn, whose result no turn would read) does not; the failed step's turns stay charged
    to the run, and its transcript says what happened."""
    CALLS.clear()
    refund = {"tool_calls": [{"name": "refund_customer", "arguments": {"order": "A-17"}}]}
    step = agent([refund, refund], max_turns=2, continue_on_error=True)
    async with worker_for(custom=[refund_customer]):
        result = await run_to_end(client, task_queue, run_input(step))
    assert CALLS == [{"order": "A-17"}]  # turn 1's call only
    record = result.steps["support"]
    assert record.status == "failed" and "no final answer after max_turns (2)" in (
        record.error or ""
    )
    assert record.usage is not None and record.usage.output_tokens > 0
    assert result.usage.input_tokens == record.usage.input_tokens > 0
    assert record.transcript is not None and len(record.transcript["turns"]) == 2
    assert record.transcript["turns"][1]["tool_calls"] == []


async def test_a_tool_schema_that_cannot_be_used_is_told_to_the_model_and_fetches_nothing(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    remote = {**REFUND_TOOL, "parameters": {"$ref": "http://127.0.0.1:9/refund.json"}}
    step = agent(
        [
            {"tool_calls": [{"name": "refund_customer", "arguments": {"order": "A-17"}}]},
            {"text": "I could not refund it."},
        ],
        tools=[remote],
    )
    async with worker_for(custom=[refund_customer]):
        result = await run_to_end(client, task_queue, run_input(step))
    record = result.steps["support"]
    assert record.transcript is not None
    (call,) = record.transcript["turns"][0]["tool_calls"]
    assert call["is_error"] and "parameters schema cannot be used" in call["result"]
    assert result.outputs["answer"] == "I could not refund it."

"""The `mcp` step against real MCP servers: the reference `mcp-server-time` from PyPI over
stdio, an `mcp` SDK server over Streamable HTTP on loopback, and servers that misbehave
(exit mid-session, never answer, refuse), through real runs on the Temporal dev server."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import WorkerConfig
from activities.mcp import McpActivities, McpPool
from activities.providers.config import McpServerSettings
from interpreter.contract import QUERY_PROGRESS, Progress, RunResult
from interpreter.errors import ERROR_MCP_TOOL
from interpreter.steps.mcp import McpToolsRequest
from tests.conftest import WorkerFactory
from tests.fakes.mcp_tools import serve_http
from tests.helpers.runs import Run, run_to_end, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

TIME_SERVER = McpServerSettings(
    command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"]
)
ROOT = Path(__file__).resolve().parents[2]


def fake_server(state: Path) -> McpServerSettings:
    """The misbehaving server over stdio, importable from the repository root."""
    return McpServerSettings(
        command=sys.executable,
        args=["-m", "tests.fakes.mcp_tools", str(state)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
    )


def workflow(*steps: dict[str, Any], outputs: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": "mcp-test",
        "inputs": {"zone": {"type": "string", "default": "Asia/Tokyo"}},
        "steps": list(steps),
        "outputs": outputs or {},
    }


async def start(client: Client, task_queue: str, definition: dict[str, Any]) -> Run:
    """A run of ``definition`` with no inputs, through the suite's one run starter."""
    return await start_run(client, task_queue, {"definition": definition, "inputs": {}})


async def run(client: Client, task_queue: str, definition: dict[str, Any]) -> RunResult:
    return await run_to_end(client, task_queue, {"definition": definition, "inputs": {}})


async def failure(
    client: Client, task_queue: str, definition: dict[str, Any], step: str
) -> tuple[str, int]:
    """A run that must fail at ``step``: the failure's message and the step's attempts."""
    handle = await start(client, task_queue, definition)
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), timeout=60)
    progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert step in progress.steps, cause.message
    return cause.message, progress.steps[step].attempts


async def history_text(handle: WorkflowHandle[Any, Any]) -> str:
    """Every payload of the run's history, decoded (inputs, results, summaries, failures)."""
    history = await handle.fetch_history()
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    found.append(base64.b64decode(value).decode("utf-8", "replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            found.append(node)

    walk(history.to_json_dict())
    return "\n".join(found)


async def test_reference_time_server_over_stdio(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    definition = workflow(
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
            "id": "now",
            "type": "mcp",
            "server": "clock",
            "tool": "get_current_time",
            "arguments": {"timezone": "Europe/Paris"},
            "output": ["paris"],
        },
        outputs={
            "tokyo": "{{ steps.convert.output.target.datetime }}",
            "zone": "{{ steps.now.paris.timezone }}",
        },
    )
    config = WorkerConfig(mcp_servers={"clock": TIME_SERVER})
    async with worker_for(config=config):
        handle = await start(client, task_queue, definition)
        result: RunResult = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.outputs["tokyo"].endswith("T21:00:00+09:00")
    assert result.outputs["zone"] == "Europe/Paris"
    assert result.steps["convert"].output["time_difference"] == "+9.0h"
    # the step names the server; how the worker reaches it never enters history
    text = await history_text(handle)
    assert "mcp_server_time" not in text and sys.executable not in text
    assert "mcp clock/convert_time" in text  # the Web UI's activity summary


async def test_streamable_http_server_on_loopback(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    token = "mcp-secret-" + uuid.uuid4().hex
    async with serve_http(tmp_path) as url:
        server = McpServerSettings(url=url, headers={"Authorization": "Bearer ${BILLING_TOKEN}"})
        config = WorkerConfig(mcp_servers={"billing": server})
        os.environ["BILLING_TOKEN"] = token
        try:
            async with worker_for(config=config):
                handle = await start(
                    client,
                    task_queue,
                    workflow(
                        {
                            "id": "echo",
                            "type": "mcp",
                            "server": "billing",
                            "tool": "echo",
                            "arguments": {"text": "invoice {{ inputs.zone }}"},
                        },
                        outputs={"text": "{{ steps.echo.output.text }}"},
                    ),
                )
                result: RunResult = await asyncio.wait_for(handle.result(), timeout=60)
        finally:
            del os.environ["BILLING_TOKEN"]
    assert result.outputs["text"] == "invoice Asia/Tokyo"
    assert result.steps["echo"].output["pid"] == os.getpid()  # served in this process
    text = await history_text(handle)
    assert url not in text and token not in text


async def test_a_server_that_exits_is_restarted(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    echo = {
        "id": "echo",
        "type": "mcp",
        "server": "flaky",
        "tool": "echo",
        "arguments": {"text": "hi"},
    }
    config = WorkerConfig(mcp_servers={"flaky": fake_server(tmp_path)})
    async with worker_for(config=config):
        first = (await run(client, task_queue, workflow(echo))).steps["echo"].output["pid"]
        # the process dies between runs (idle): the next step starts a new one at once
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(0.5)
        second_run = await run(client, task_queue, workflow(echo))
        second = second_run.steps["echo"].output["pid"]
        assert second != first and second_run.steps["echo"].attempts == 1
        # the process dies during a call: the step fails retryably, the next one reconnects
        dying = {
            "id": "die",
            "type": "mcp",
            "server": "flaky",
            "tool": "exit_now",
            "retry": {"max_attempts": 2, "initial_interval": "100ms"},
            "continue_on_error": True,
        }
        after = {**echo, "id": "after", "depends_on": ["die"], "trigger_rule": "all_done"}
        result = await run(client, task_queue, workflow(dying, after))
    assert result.steps["die"].status == "failed"
    assert result.steps["die"].attempts == 2
    assert "MCP server `flaky`: connection failed (Connection closed)" in (
        result.steps["die"].error or ""
    )
    assert result.steps["after"].output["pid"] not in (first, second)


async def test_a_server_that_never_answers_times_out_and_is_retried(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    # the server is started and its tools listed by a first step with the default timeout:
    # on a busy machine starting a Python server alone can take longer than the short
    # timeout below, which is meant for the hung call only
    warm = {
        "id": "warm",
        "type": "mcp",
        "server": "slow",
        "tool": "echo",
        "arguments": {"text": "up"},
    }
    step = {
        "id": "slow",
        "type": "mcp",
        "server": "slow",
        "tool": "hang_once",
        "arguments": {"text": "x"},
        "depends_on": ["warm"],
        "timeout": "5s",
        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
    }
    config = WorkerConfig(mcp_servers={"slow": fake_server(tmp_path)})
    async with worker_for(config=config):
        result = await run(client, task_queue, workflow(warm, step))
    assert result.steps["warm"].attempts == 1
    assert result.steps["slow"].output == {"result": "answered x"}  # MCPServer wraps a str
    assert result.steps["slow"].attempts == 2
    assert (tmp_path / "hang_once").read_text() == "2"


async def test_unknown_server_names_the_configured_ones(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    step = {
        "id": "lookup",
        "type": "mcp",
        "server": "billing",
        "tool": "get_invoice",
        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
    }
    config = WorkerConfig(mcp_servers={"clock": TIME_SERVER, "git": TIME_SERVER})
    async with worker_for(config=config):
        message, attempts = await failure(client, task_queue, workflow(step), "lookup")
    assert "no MCP server `billing` is configured on this worker" in message
    assert "configured: `clock`, `git`" in message
    assert attempts == 1


async def test_unknown_tool_lists_the_servers_tools(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    step = {
        "id": "t",
        "type": "mcp",
        "server": "clock",
        "tool": "get_weather",
        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
    }
    async with worker_for(config=WorkerConfig(mcp_servers={"clock": TIME_SERVER})):
        message, attempts = await failure(client, task_queue, workflow(step), "t")
    assert "MCP server `clock` has no tool `get_weather`" in message
    assert "(its tools: convert_time, get_current_time)" in message
    assert attempts == 1


async def test_a_tool_error_fails_the_step_without_retrying(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    step = {
        "id": "pay",
        "type": "mcp",
        "server": "flaky",
        "tool": "refuse",
        "arguments": {"reason": "card declined"},
        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
    }
    async with worker_for(config=WorkerConfig(mcp_servers={"flaky": fake_server(tmp_path)})):
        handle = await start(client, task_queue, workflow(step))
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=60)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert (
        "MCP tool `flaky/refuse` failed: Error executing tool refuse: refused: card declined"
        in str(info.value.cause)
    )
    assert progress.steps["pay"].attempts == 1
    history = await handle.fetch_history()
    types = [
        e.activity_task_failed_event_attributes.failure.application_failure_info.type
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert types == [ERROR_MCP_TOOL]


async def test_list_tools_activity_for_agents_and_the_ttl_cache(tmp_path: Path) -> None:
    pool = McpPool(
        {"clock": TIME_SERVER, "fresh": fake_server(tmp_path).model_copy(update={"tools_ttl": 0})}
    )
    activities = McpActivities(pool)
    try:
        listed = await ActivityEnvironment().run(
            activities.list_tools, McpToolsRequest(server="clock")
        )
        tools = {tool.name: tool for tool in listed.tools}
        assert set(tools) == {"get_current_time", "convert_time"}
        assert "timezone" in tools["get_current_time"].input_schema["properties"]
        assert tools["convert_time"].description
        # cached for the TTL; with 0 listed again each time
        assert await pool.tools("clock") is await pool.tools("clock")
        assert await pool.tools("fresh") is not await pool.tools("fresh")
    finally:
        await pool.aclose()


async def test_a_secret_that_is_not_set_fails_without_retrying(tmp_path: Path) -> None:
    server = McpServerSettings(url="http://127.0.0.1:9/mcp", headers={"X-Key": "${NOT_SET_X}"})
    pool = McpPool({"billing": server}, env={})
    try:
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(
                McpActivities(pool).list_tools, McpToolsRequest(server="billing")
            )
    finally:
        await pool.aclose()
    assert "`${NOT_SET_X}` is not set on the worker" in info.value.message
    assert info.value.non_retryable
    assert "127.0.0.1:9" not in info.value.message


async def test_a_server_that_never_completes_the_handshake_times_out_each_attempt(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    silent = McpServerSettings(command=sys.executable, args=["-c", "import time; time.sleep(600)"])
    step = {
        "id": "mute",
        "type": "mcp",
        "server": "mute",
        "tool": "anything",
        "timeout": "1s",
        "retry": {"max_attempts": 2, "initial_interval": "100ms"},
    }
    async with worker_for(config=WorkerConfig(mcp_servers={"mute": silent})):
        # a short heartbeat timeout: the worker learns of each timed-out attempt soon
        definition = {**workflow(step), "defaults": {"heartbeat_timeout": "2s"}}
        message, attempts = await failure(client, task_queue, definition, "mute")
    assert attempts == 2
    assert "timed out" in message.lower() or "timeout" in message.lower(), message

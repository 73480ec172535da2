"""`llm-orchestrator mcp-server` driven by an independent MCP client (the official `mcp`
SDK's): list the catalog's workflows as tools, call one, get the run's outputs; over
stdio and over Streamable HTTP, against the real Temporal dev server and a worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowExecutionStatus

from tests.conftest import EXAMPLES, WorkerFactory
from tests.fakes.mcp_tools import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


def server_args(client: TemporalClient, task_queue: str, *extra: str) -> list[str]:
    return [
        "-m",
        "llm_orchestrator.cli",
        "mcp-server",
        "--catalog",
        str(EXAMPLES),
        "--address",
        client.service_client.config.target_host,
        "--task-queue",
        task_queue,
        "--offline",
        *extra,
    ]


def server_env(tmp_path: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(tmp_path / "state")}


@asynccontextmanager
async def http_server(args: list[str], env: dict[str, str]) -> AsyncIterator[str]:
    """The CLI serving Streamable HTTP on a free loopback port; yields its endpoint."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *args, "--transport", "http", "--port", str(port)],
        env={**os.environ, **env},
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.get(f"http://127.0.0.1:{port}/")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "mcp-server exited"
                    await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def check_tools_and_call(mcp: Client, temporal: TemporalClient) -> None:
    listing = await mcp.list_tools()
    tools = {tool.name: tool for tool in listing.tools}
    assert {"sentiment-analysis", "content-moderation", "support-triage"} <= set(tools)
    sentiment = tools["sentiment-analysis"]
    assert sentiment.description == (
        "Analyse the sentiment of a message and write an empathetic reply."
    )
    assert sentiment.input_schema["properties"]["text"]["type"] == "string"
    assert sentiment.input_schema["required"] == ["text"]

    result = await mcp.call_tool("sentiment-analysis", {"text": "I love this product"})
    assert isinstance(result, CallToolResult) and not result.is_error
    body: dict[str, Any] = result.structured_content or {}
    assert body["outputs"]["sentiment"] == "positive"
    assert body["outputs"]["response"]
    described = await temporal.get_workflow_handle(body["workflow_id"]).describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED

    # inputs are checked before a run starts; the client is told why
    bad = await mcp.call_tool("sentiment-analysis", {"txt": "typo"})
    assert isinstance(bad, CallToolResult) and bad.is_error
    message = bad.content[0].text if hasattr(bad.content[0], "text") else ""
    assert "missing required input `text`" in message and "unknown input `txt`" in message


async def test_stdio_list_tools_and_run_a_workflow(
    client: TemporalClient, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=server_args(client, task_queue),
        env=server_env(tmp_path),
        cwd=ROOT,
    )
    async with worker_for(), Client(params) as mcp:
        await check_tools_and_call(mcp, client)


async def test_streamable_http_list_tools_and_run_a_workflow(
    client: TemporalClient, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    args = server_args(client, task_queue)
    async with worker_for(), http_server(args, server_env(tmp_path)) as url, Client(url) as mcp:
        await check_tools_and_call(mcp, client)


INSPECTOR = Path(
    os.environ.get("MCP_INSPECTOR_CLI")
    or ROOT / ".ci/node/node_modules/@modelcontextprotocol/inspector-cli/build/index.js"
)


async def inspector(*args: str) -> Any:
    """Run the MCP Inspector's CLI (npm, Node); its JSON answer."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(INSPECTOR),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # it finds its own package.json by a path it checks from the working directory
        cwd=INSPECTOR.parent,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


async def test_the_mcp_inspector_lists_and_calls_workflows(
    client: TemporalClient, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    if not INSPECTOR.is_file():
        pytest.skip(f"the MCP Inspector CLI is not installed at {INSPECTOR} (see .ci/run)")
    args = server_args(client, task_queue)
    async with worker_for(), http_server(args, server_env(tmp_path)) as url:
        listing = await inspector(url, "--transport", "http", "--method", "tools/list")
        names = {tool["name"] for tool in listing["tools"]}
        assert "sentiment-analysis" in names
        called = await inspector(
            url,
            "--transport",
            "http",
            "--method",
            "tools/call",
            "--tool-name",
            "sentiment-analysis",
            "--tool-arg",
            "text=what a lovely day",
        )
    assert not called.get("isError")
    body = called["structuredContent"]
    assert body["outputs"]["sentiment"] == "positive"
    described = await client.get_workflow_handle(body["workflow_id"]).describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED


async def test_a_missing_catalog_is_exit_3_before_serving(tmp_path: Path) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "llm_orchestrator.cli",
            "mcp-server",
            "--catalog",
            str(tmp_path / "nowhere"),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3
    assert "catalog directory" in done.stderr and "does not exist" in done.stderr
    assert done.stdout == ""  # stdout is the MCP channel: nothing else goes there

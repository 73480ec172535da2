"""`llm-orchestrator mcp-server`: every catalog workflow as an MCP tool.

An MCP client (Claude Desktop, an IDE, another agent) lists the tools, one per
workflow file of the catalog: its name, its description and a JSON Schema of its
declared ``inputs``. Calling one starts a `DagWorkflow` run on Temporal, as
``llm-orchestrator run NAME`` would, waits for it and answers with the run's
outputs and workflow id. The runs happen on workers, as always; this process only
starts them and waits (the same Temporal connection settings apply).

Served with the official ``mcp`` SDK's low-level server over stdio (the default,
what desktop clients spawn) or Streamable HTTP (``--transport http``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp_types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import FailureError

from activities.catalog import Catalog
from interpreter.contract import WORKFLOW_TYPE, RunInput, RunResult
from interpreter.errors import WorkflowDefinitionError
from interpreter.inputs import input_schema, resolve_inputs
from interpreter.loader import load_file
from interpreter.models import WorkflowDefinition
from llm_orchestrator.connect import connect
from llm_orchestrator.worker_setup import activity_settings

__all__ = ["build_server", "input_schema", "serve"]


class _Workflows:
    """The catalog as tools; read again on every listing, so new files show up."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def definitions(self) -> dict[str, WorkflowDefinition]:
        found: dict[str, WorkflowDefinition] = {}
        for path in self._catalog.files():
            try:
                found[path.stem] = load_file(path)
            except WorkflowDefinitionError:
                continue  # an invalid file is no tool; `validate` says why
        return found

    def tools(self) -> list[Tool]:
        return [
            Tool(
                name=name,
                title=definition.name,
                description=definition.description or f"Run the `{definition.name}` workflow.",
                input_schema=input_schema(definition),
            )
            for name, definition in self.definitions().items()
        ]


def build_server(
    client: Client, catalog: Catalog, *, task_queue: str, offline: bool = False
) -> Server[Any]:
    """The MCP server: list the catalog's workflows, run one per tool call."""
    workflows = _Workflows(catalog)

    async def list_tools(_ctx: Any, _params: PaginatedRequestParams | None) -> ListToolsResult:
        return ListToolsResult(tools=await asyncio.to_thread(workflows.tools))

    async def call_tool(_ctx: Any, params: CallToolRequestParams) -> CallToolResult:
        definitions = await asyncio.to_thread(workflows.definitions)
        definition = definitions.get(params.name)
        if definition is None:
            return _error(
                f"no workflow `{params.name}` in the catalog (tools: {', '.join(definitions)})"
            )
        arguments = dict(params.arguments or {})
        try:
            resolve_inputs(definition, arguments)
        except WorkflowDefinitionError as exc:
            return _error("; ".join(p.message for p in exc.problems))
        workflow_id = f"{params.name}-mcp-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            RunInput(workflow=params.name, inputs=arguments, offline=offline),
            id=workflow_id,
            task_queue=task_queue,
            result_type=RunResult,
            static_summary=f"{definition.name} v{definition.version} (MCP tool call)",
        )
        try:
            result: RunResult = await handle.result()
        except WorkflowFailureError as exc:
            return _error(f"run {workflow_id} failed: {_first_cause(exc)}", workflow_id)
        body = {"workflow_id": workflow_id, "outputs": result.outputs}
        return CallToolResult(
            content=[TextContent(type="text", text=json.dumps(body, default=str))],
            structured_content=body,
        )

    return Server(
        "llm-orchestrator",
        description="Durable LLM workflows on Temporal, one tool per workflow.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _error(message: str, workflow_id: str | None = None) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=message)],
        structured_content={"workflow_id": workflow_id, "error": message} if workflow_id else None,
        is_error=True,
    )


def _first_cause(exc: BaseException) -> str:
    """The innermost failure's message: what went wrong, not how it travelled."""
    message = str(exc)
    cause: BaseException | None = exc.__cause__
    while cause is not None:
        if isinstance(cause, FailureError):
            message = getattr(cause, "message", None) or str(cause)
        cause = cause.__cause__
    return message


async def serve(args: argparse.Namespace) -> None:
    """Connect to Temporal, then serve until the client goes away (stdio) or interrupted."""
    catalog = Catalog(activity_settings(Path(args.catalog) if args.catalog else None))
    client = await connect(args.address)
    server = build_server(client, catalog, task_queue=args.task_queue, offline=args.offline)
    if args.transport == "stdio":
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    import uvicorn

    app = server.streamable_http_app(host=args.host)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    await uvicorn.Server(config).serve()

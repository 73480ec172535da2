"""The `mcp` step: one call of a tool on an MCP server configured on the worker.

The step names the server; what the name means (a command to start, a URL and its
credentials) is the worker's config (``mcp_servers:``), so none of it enters the
run's history. Validation cannot know a worker's servers: it checks the step's
shape, and the worker names its configured servers when a name is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from interpreter.contract import ACTIVITY_MCP
from interpreter.fields import Defaults
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityKind,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    retry_of,
)

__all__ = [
    "KIND",
    "McpCall",
    "McpRequest",
    "McpStep",
    "McpToolInfo",
    "McpTools",
    "McpToolsRequest",
]


class McpStep(StepBase):
    """Call one tool of an MCP server configured on the worker; its result is the output."""

    type: Literal["mcp"]
    server: str = Field(min_length=1, description="A name under the worker's `mcp_servers:`.")
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="The tool's arguments (templates rendered)."
    )


class McpCall(StepCall):
    """What the `mcp` activity receives: a server name, never its address or credentials."""

    server: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class McpRequest(Payload):
    step: McpCall
    workflow_id: str = ""
    run_id: str = ""


class McpToolsRequest(Payload):
    """What the tool-listing activity receives (the `agent` step lists a server's tools)."""

    server: str


class McpToolInfo(Payload):
    """One tool a server offers: what a model needs to call it."""

    name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=dict)


class McpTools(Payload):
    """What the tool-listing activity returns."""

    server: str
    tools: list[McpToolInfo] = Field(default_factory=list)


class _McpKind(ActivityKind[McpStep]):
    model = McpStep
    templated = ("arguments",)
    shape: Shape = "task"

    def summary(self, step: McpStep, defaults: Defaults) -> str:
        return f"mcp {step.server}/{step.tool}"

    def call(self, step: McpStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        call = McpCall(
            id=step.id,
            jitter=retry_of(step, run.defaults).jitter,
            server=step.server,
            tool=step.tool,
            arguments=dict(rendered["arguments"]),
        )
        payload = McpRequest(step=call, workflow_id=run.workflow_id, run_id=run.run_id)
        return ActivityCall(ACTIVITY_MCP, payload)


KIND = _McpKind()

"""An `agent` step's tools: what users write (``workflow:``, ``mcp:``, ``activity:``
entries) and how one run turns them into the tools a model sees.

Resolving happens when the step starts, through activities, so what the tools were
is pinned in the run's history: a catalog workflow's definition (``resolve_workflow``)
and an MCP server's tool list (``mcp_list_tools``). A workflow named by path, or
found next to the file, was pinned with the run already (``interpreter.library``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

# the module, not its names: `interpreter.conversation` imports `interpreter.steps`
# (StepCall), so whichever of the two is imported first, the other is half-done then
from interpreter import conversation
from interpreter.contract import ACTIVITY_MCP_LIST_TOOLS, ACTIVITY_RESOLVE_WORKFLOW
from interpreter.fields import JsonSchemaFormat, LanguageModel, RetryPolicy
from interpreter.steps._kind import Runtime, StepFailure, cause_message
from interpreter.steps.mcp import McpTools, McpToolsRequest

__all__ = [
    "MODEL_TOOL_NAME",
    "ActivityTool",
    "McpTool",
    "Resolved",
    "Tool",
    "WorkflowTool",
    "model_safe",
    "resolve_tools",
    "tool_name",
]

MODEL_TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"
"""The tool names OpenAI and Anthropic accept: any other is a 400 for the whole turn."""
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")


def model_safe(name: str) -> str:
    """``name`` as a model may call it: other characters become ``_``, cut to 64
    (``files.read`` → ``files_read``); ``name`` itself when models accept it."""
    return _NOT_IN_NAME.sub("_", name)[:64] or "_"


def tool_name(ref: str) -> str:
    """The name a model calls a workflow tool by: the file's stem, in the characters
    every vendor accepts (``./tools/lookup-order.yaml`` → ``lookup-order``)."""
    stem = ref.rsplit("/", 1)[-1]
    for suffix in (".yaml", ".yml", ".json"):
        stem = stem.removesuffix(suffix)
    return model_safe(stem) if stem else "workflow"


class _ToolBase(LanguageModel):
    description: str | None = None
    approval: Literal["required"] | None = Field(
        default=None, description="`required`: each call waits for a person's decision."
    )


class WorkflowTool(_ToolBase):
    """Another workflow as a tool: its declared inputs are the parameters, its outputs
    the result (a child run)."""

    workflow: str = Field(min_length=1, description="A catalog name or a ./relative path.")
    name: str | None = Field(default=None, pattern=MODEL_TOOL_NAME)

    @property
    def tool(self) -> str:
        return self.name or tool_name(self.workflow)


class McpTool(_ToolBase):
    """The tools of an MCP server configured on the worker (``allow``: only these)."""

    mcp: str = Field(min_length=1, description="A name under the worker's `mcp_servers:`.")
    allow: list[str] | None = None


class ActivityTool(_ToolBase):
    """A custom activity registered on the worker, called with the arguments object."""

    activity: str = Field(min_length=1)
    name: str | None = Field(default=None, pattern=MODEL_TOOL_NAME)
    parameters: JsonSchemaFormat | None = None

    @model_validator(mode="before")
    @classmethod
    def _schema_in_place(cls, data: Any) -> Any:
        # `parameters:` is the JSON Schema itself; checked as one (JsonSchemaFormat)
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            return {**data, "parameters": {"schema": data["parameters"]}}
        return data

    @property
    def tool(self) -> str:
        """``name``, else the activity's own name: validation requires that one to be a
        name models accept (an activity cannot be renamed on the worker, only here)."""
        return self.name or self.activity


def _tool_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        found = [key for key in ("workflow", "mcp", "activity") if key in value]
        return found[0] if len(found) == 1 else None
    for cls, tag in ((WorkflowTool, "workflow"), (McpTool, "mcp"), (ActivityTool, "activity")):
        if isinstance(value, cls):
            return tag
    return None


Tool = Annotated[
    Annotated[WorkflowTool, Tag("workflow")]
    | Annotated[McpTool, Tag("mcp")]
    | Annotated[ActivityTool, Tag("activity")],
    Discriminator(
        _tool_kind,
        custom_error_type="tool_kind",
        custom_error_message=(
            "a tool is exactly one of `workflow: NAME`, `mcp: SERVER` or `activity: NAME`"
        ),
    ),
]


@dataclass(frozen=True, slots=True)
class Resolved:
    """One tool as the loop knows it: what the model sees, and how to run it."""

    spec: conversation.ToolSpec
    how: WorkflowTool | McpTool | ActivityTool
    definition: dict[str, Any] | None = None
    """A workflow tool's definition, pinned (from the run's library or the catalog)."""
    library: Mapping[str, Mapping[str, Any]] | None = None
    mcp_name: str | None = None
    """An MCP tool's name on its server, which calls it by that name; the model sees
    ``spec.name``, the same made safe for models (:func:`model_safe`)."""


async def resolve_tools(
    entries: Sequence[Tool], runtime: Runtime, *, timeout: float, retry: RetryPolicy
) -> dict[str, Resolved]:
    """The tools of one run by name: workflow definitions pinned, MCP tools listed."""
    # the workflow language's models import the step kinds: import them when running
    # and temporalio's failures: step modules load for `validate`, which must not pay for it
    from temporalio.exceptions import FailureError

    from interpreter.catalog import ResolvedWorkflow, ResolveRequest
    from interpreter.inputs import input_schema
    from interpreter.models import WorkflowDefinition

    facts = runtime.facts
    tools: dict[str, Resolved] = {}

    def add(tool: Resolved) -> None:
        name = tool.spec.name
        if name in tools:
            renamed = [
                f"MCP `{t.how.mcp}` tool `{t.mcp_name}`"
                for t in (tools[name], tool)
                if isinstance(t.how, McpTool) and t.mcp_name != name
            ]
            why = f" ({' and '.join(renamed)} made safe for models)" if renamed else ""
            raise StepFailure(
                f"two tools are named `{name}`{why}: give one a `name:` (MCP: `allow:`)"
            )
        tools[name] = tool

    async def ask(name: str, payload: Any, *, summary: str, result_type: type, failing: str) -> Any:
        """One activity of the tools' set-up; its failure fails the step, saying what failed."""
        try:
            return await runtime.activity(
                name,
                payload,
                summary=summary,
                timeout=timeout,
                retry=retry,
                result_type=result_type,
            )
        except FailureError as exc:
            raise StepFailure(f"{failing}: {cause_message(exc)}") from None

    for entry in entries:
        if isinstance(entry, WorkflowTool):
            pinned = facts.library.get(entry.workflow)
            library: Mapping[str, Mapping[str, Any]] = facts.library
            if pinned is None:
                resolved: ResolvedWorkflow = await ask(
                    ACTIVITY_RESOLVE_WORKFLOW,
                    ResolveRequest(name=entry.workflow),
                    summary=f"{runtime.label} · resolve tool {entry.tool}",
                    result_type=ResolvedWorkflow,
                    failing=f"workflow tool `{entry.workflow}`",
                )
                pinned = resolved.definition.model_dump(mode="json", by_alias=True)
                library = {**resolved.library, **facts.library}
            definition = WorkflowDefinition.model_validate(pinned)
            if not definition.inputs:
                raise StepFailure(
                    f"workflow tool `{entry.workflow}` declares no `inputs:`: a model needs "
                    "them to know the tool's parameters"
                )
            description = entry.description or definition.description or f"Run {definition.name}"
            spec = conversation.ToolSpec(
                name=entry.tool, description=description, parameters=input_schema(definition)
            )
            add(Resolved(spec, entry, dict(pinned), library))
        elif isinstance(entry, McpTool):
            listed: McpTools = await ask(
                ACTIVITY_MCP_LIST_TOOLS,
                McpToolsRequest(server=entry.mcp),
                summary=f"{runtime.label} · mcp {entry.mcp} tools",
                result_type=McpTools,
                failing=f"MCP tools of `{entry.mcp}`",
            )
            offered = {t.name: t for t in listed.tools}
            missing = [name for name in entry.allow or () if name not in offered]
            if missing:
                raise StepFailure(
                    f"MCP server `{entry.mcp}` has no tool "
                    + ", ".join(f"`{n}`" for n in missing)
                    + f" (its tools: {', '.join(sorted(offered)) or 'none'})"
                )
            for info in listed.tools:
                if entry.allow is None or info.name in entry.allow:
                    schema = info.input_schema or {"type": "object"}
                    # the server names its tools; a name a model cannot call is offered
                    # made safe, and the server still gets its own name (`mcp_name`)
                    add(
                        Resolved(
                            conversation.ToolSpec(
                                name=model_safe(info.name),
                                description=info.description or entry.description or "",
                                parameters=schema,
                            ),
                            entry,
                            mcp_name=info.name,
                        )
                    )
        else:
            parameters = entry.parameters.json_schema if entry.parameters else {"type": "object"}
            spec = conversation.ToolSpec(
                name=entry.tool, description=entry.description or "", parameters=parameters
            )
            add(Resolved(spec, entry))
    return tools

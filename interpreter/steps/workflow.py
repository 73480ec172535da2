"""The `workflow` step: another workflow, run as a child `DagWorkflow`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from interpreter.contract import RunInput, StepOutcome
from interpreter.fields import Defaults
from interpreter.steps._kind import AsyncKind, Runtime, Shape, StepBase

__all__ = ["KIND", "WorkflowStep"]


class WorkflowStep(StepBase):
    """Run ``workflow`` (a name in the worker's catalog, or a path relative to this file)
    with ``inputs``; its ``outputs`` are this step's output."""

    type: Literal["workflow"]
    workflow: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)


class _WorkflowKind(AsyncKind[WorkflowStep]):
    model = WorkflowStep
    templated = ("inputs",)
    shape: Shape = "task"

    def summary(self, step: WorkflowStep, defaults: Defaults) -> str:
        return f"workflow {step.workflow}"

    async def run(
        self, step: WorkflowStep, rendered: Mapping[str, Any], runtime: Runtime
    ) -> StepOutcome:
        facts = runtime.facts
        pinned = facts.library.get(step.workflow)
        request = RunInput(
            # pinned with this run when it was started from a file; else the catalog's,
            # which the child pins in its own history
            definition=dict(pinned) if pinned is not None else None,
            workflow=None if pinned is not None else step.workflow,
            inputs=dict(rendered["inputs"]),
            offline=facts.offline,
            library={ref: dict(d) for ref, d in facts.library.items()},
            scope=runtime.scope_for_body(pinned.get("steps") if pinned else None),
        )
        result = await runtime.child(
            request, suffix="", label=f"{runtime.label} · workflow {step.workflow}"
        )
        return StepOutcome(output=result.outputs, usage=result.usage, attempt=0)


KIND = _WorkflowKind()

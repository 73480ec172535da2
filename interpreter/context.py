"""What templates see while a run is in progress (pure; used by the workflow and tests).

::

    inputs / input          the run's inputs (also at the root, as the original format had them)
    steps.<id>.output       a step's primary output
    steps.<id>.<name>       the value bound to each name in the step's `output:` list
    steps.<id>.status       pending | running | completed | skipped | failed
    outputs.<id>            a step's primary output (original format)
    outputs.<name>          the value of an output name, when no step has that id
    workflow.name/.version/.id/.run_id
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interpreter.contract import StepRecord

__all__ = ["TemplateContext", "bind_outputs", "build_context"]


def bind_outputs(names: Sequence[str], output: Any, extras: Sequence[Any]) -> dict[str, Any]:
    """Bind ``output:`` names positionally: the first to the primary output, then the extras."""
    values = [output, *extras]
    return {name: values[i] if i < len(values) else None for i, name in enumerate(names)}


class TemplateContext:
    """The template context of a run, updated in place as steps change (O(1) per update)."""

    def __init__(
        self, inputs: Mapping[str, Any], workflow: Mapping[str, Any] | None = None
    ) -> None:
        self._steps: dict[str, dict[str, Any]] = {}
        self._outputs: dict[str, Any] = {}
        self._name_owner: dict[str, str] = {}
        self.data: dict[str, Any] = dict(inputs)
        self.data.update(
            inputs=dict(inputs),
            input=dict(inputs),
            steps=self._steps,
            outputs=self._outputs,
            workflow=dict(workflow or {}),
        )

    def update(self, step_id: str, record: StepRecord) -> None:
        self._steps[step_id] = {**record.outputs, "output": record.output, "status": record.status}
        self._outputs[step_id] = record.output
        for name, value in record.outputs.items():
            owner = self._name_owner.setdefault(name, step_id)
            if owner == step_id and name not in self._steps:
                self._outputs[name] = value


def build_context(
    inputs: Mapping[str, Any],
    records: Mapping[str, StepRecord],
    workflow: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context for ``records`` (see :class:`TemplateContext`)."""
    context = TemplateContext(inputs, workflow)
    for step_id, record in records.items():
        context.update(step_id, record)
    return context.data

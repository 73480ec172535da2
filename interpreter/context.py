"""What templates see while a run is in progress, derived from the scheduler's state.

::

    inputs / input          the run's inputs (also at the root, as the original format had them)
    steps.<id>.output       a step's primary output
    steps.<id>.<name>       the value bound to each name in the step's `output:` list
                            (null while the step has not completed, e.g. when it was skipped)
    steps.<id>.status       pending | running | completed | skipped | failed
    steps.<id>.answered_by  a model step: {provider, model, skipped: [{provider, model,
                            error, attempts}]} (null until it answered)
    steps.<id>.transcript   an `agent` step's conversation (the fields its kind adds)
    outputs.<id>            a step's primary output (original format)
    outputs.<name>          the value of an output name, when no step has that id
    workflow.name/.version/.id/.run_id

Nothing here is written by hand as the run goes: ``steps`` and ``outputs`` are
read-only views over :attr:`Scheduler.steps <interpreter.scheduler.Scheduler.steps>`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from interpreter.contract import Scope
from interpreter.scheduler import Scheduler

__all__ = ["STEP_FIELDS", "TemplateContext"]

STEP_FIELDS = ("output", "status", "answered_by")
"""What ``steps.<id>`` has besides the names in the step's ``output:`` list."""


class _StepsView(Mapping[str, dict[str, Any]]):
    """``steps.<id>``: each step's bound output names, ``output`` and ``status``; then the
    outer steps a body run was given (:class:`~interpreter.contract.Scope`)."""

    def __init__(self, scheduler: Scheduler, outer: Mapping[str, dict[str, Any]]) -> None:
        self._scheduler = scheduler
        self._outer = outer

    def __getitem__(self, step_id: str) -> dict[str, Any]:
        state = self._scheduler.steps.get(step_id)
        if state is None:
            return dict(self._outer[step_id])
        node = self._scheduler.dag.nodes[step_id]
        view = {
            **dict.fromkeys(node.step.output),
            **state.outputs,
            STEP_FIELDS[0]: state.output,
            # a rerun's reused step reads as it did in the run it comes from
            STEP_FIELDS[1]: "completed" if state.status.succeeded else state.status.value,
            STEP_FIELDS[2]: state.answered_by.model_dump() if state.answered_by else None,
        }
        if "transcript" in node.kind.record_fields:
            view["transcript"] = state.transcript
        return view

    def __iter__(self) -> Iterator[str]:
        yield from self._scheduler.steps
        yield from (k for k in self._outer if k not in self._scheduler.steps)

    def __len__(self) -> int:
        return len(self._scheduler.steps) + sum(
            1 for k in self._outer if k not in self._scheduler.steps
        )


class _OutputsView(Mapping[str, Any]):
    """``outputs.<id>`` and ``outputs.<name>`` (the original format's spelling)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        # an output name belongs to the first step (in file order) that declares it
        self._owner: dict[str, str] = {}
        for node in scheduler.dag.nodes.values():
            for name in node.step.output:
                if name not in scheduler.steps:
                    self._owner.setdefault(name, node.id)

    def __getitem__(self, key: str) -> Any:
        steps = self._scheduler.steps
        if key in steps:
            return steps[key].output
        return steps[self._owner[key]].outputs.get(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._scheduler.steps
        yield from self._owner

    def __len__(self) -> int:
        return len(self._scheduler.steps) + len(self._owner)


class TemplateContext:
    """The template context of a run: its inputs, live views of its steps, and its scope."""

    def __init__(
        self,
        inputs: Mapping[str, Any],
        scheduler: Scheduler,
        workflow: Mapping[str, Any] | None = None,
        scope: Scope | None = None,
    ) -> None:
        scope = scope or Scope()
        self._per_step = scope.per_step
        self.data: dict[str, Any] = dict(inputs)
        self.data.update(
            inputs=dict(inputs),
            input=dict(inputs),
            steps=_StepsView(scheduler, scope.steps),
            outputs=_OutputsView(scheduler),
            workflow=dict(workflow or {}),
        )
        self.data.update(scope.roots)

    def for_step(self, step_id: str) -> dict[str, Any]:
        """The context one step renders in (a map item also sees its ``item``/``index``)."""
        extra = self._per_step.get(step_id)
        return {**self.data, **extra} if extra else self.data

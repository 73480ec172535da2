"""The `parallel` step: a group of sub-steps that start together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from interpreter.fields import Defaults
from interpreter.steps._kind import GroupKind, Nested, Shape, StepBase

if TYPE_CHECKING:
    from interpreter.steps import Step

__all__ = ["KIND", "ParallelStep"]


class ParallelStep(StepBase):
    """Sub-steps that start together; the group finishes when all of them have."""

    type: Literal["parallel"]
    steps: list[Step] = Field(min_length=1)
    max_concurrency: int | None = Field(default=None, gt=0)


class _ParallelKind(GroupKind[ParallelStep]):
    model = ParallelStep
    templated = ()
    shape: Shape = "group"

    def summary(self, step: ParallelStep, defaults: Defaults) -> str:
        return "parallel"

    def nested(self, step: ParallelStep) -> Iterator[Nested]:
        for i, child in enumerate(step.steps):
            yield Nested(("steps", i), child)

    def max_concurrency(self, step: ParallelStep) -> int | None:
        return step.max_concurrency


KIND = _ParallelKind()

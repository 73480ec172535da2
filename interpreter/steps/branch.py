"""The `branch` step: evaluate an expression and run only the matching case's steps."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from interpreter.fields import Defaults, StepId
from interpreter.steps._kind import DecisionKind, Nested, Shape, StepBase
from interpreter.templates import render_value

if TYPE_CHECKING:
    from interpreter.steps import Step

__all__ = ["KIND", "BranchStep"]


class BranchStep(StepBase):
    """Evaluate ``condition`` and run only the matching case's steps; skip the others.

    A case lists steps inline or names steps defined elsewhere in the file.
    """

    type: Literal["branch"]
    condition: str
    branches: dict[str, list[StepId | Step]] = Field(min_length=1)
    default: list[StepId | Step] = Field(default_factory=list)


def _case_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value).strip()


class _BranchKind(DecisionKind[BranchStep]):
    model = BranchStep
    templated = ()
    conditions = ("condition",)
    shape: Shape = "decision"

    def summary(self, step: BranchStep, defaults: Defaults) -> str:
        return "branch"

    def nested(self, step: BranchStep) -> Iterator[Nested]:
        for case, items in step.branches.items():
            if case == "default" and step.default:
                continue  # `default:` wins over a case named "default"
            for i, item in enumerate(items):
                yield Nested(("branches", case, i), item, case)
        for i, item in enumerate(step.default):
            yield Nested(("default", i), item, "default")

    def decide(self, step: BranchStep, context: Mapping[str, Any]) -> str:
        source = step.condition
        value = render_value(source if "{{" in source else "{{ " + source + " }}", context)
        return self.case_for(step, value)

    def case_for(self, step: BranchStep, value: Any) -> str:
        case = _case_name(value)
        if case not in step.branches and step.default:
            return "default"
        return case


KIND = _BranchKind()

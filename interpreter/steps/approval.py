"""The `approval` step: the run waits, durably, for a person to approve or reject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from interpreter.contract import Decision, StepOutcome
from interpreter.durations import format_duration
from interpreter.fields import Defaults
from interpreter.steps._kind import AsyncKind, Runtime, Shape, StepBase, StepFailure

__all__ = ["KIND", "ApprovalStep"]


class ApprovalStep(StepBase):
    """Shows ``message`` and waits for the ``approve`` Update (or signal). ``timeout``
    bounds the wait; ``on_timeout`` says what then."""

    type: Literal["approval"]
    message: str
    on_timeout: Literal["fail", "reject", "approve"] = "fail"


class _ApprovalKind(AsyncKind[ApprovalStep]):
    model = ApprovalStep
    templated = ("message",)
    shape: Shape = "decision"

    def summary(self, step: ApprovalStep, defaults: Defaults) -> str:
        return "approval"

    async def run(
        self, step: ApprovalStep, rendered: Mapping[str, Any], runtime: Runtime
    ) -> StepOutcome:
        decision = await runtime.decision(str(rendered["message"]), step.timeout)
        if decision is None:
            if step.on_timeout == "fail":
                raise StepFailure(
                    f"no decision within {format_duration(step.timeout or 0)} (on_timeout: fail)"
                )
            output: dict[str, Any] = {
                "approved": step.on_timeout == "approve",
                "by": None,
                "comment": None,
                "data": None,
                "timed_out": True,
            }
            return StepOutcome(output=output, attempt=0)
        return StepOutcome(output=_answer(decision), attempt=0)


def _answer(decision: Decision) -> dict[str, Any]:
    return {
        "approved": decision.approved,
        "by": decision.by,
        "comment": decision.comment,
        "data": decision.data,
        "timed_out": False,
    }


KIND = _ApprovalKind()

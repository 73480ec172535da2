"""The `wait` step: a durable timer, or a named signal from outside."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import model_validator

from interpreter.contract import StepOutcome
from interpreter.durations import Duration, format_duration
from interpreter.fields import Defaults
from interpreter.steps._kind import AsyncKind, Runtime, Shape, StepBase, StepFailure

__all__ = ["KIND", "WaitStep"]


class WaitStep(StepBase):
    """Sleep for ``duration`` (days are fine: the timer is Temporal's), or wait for ``signal``
    (its payload is the output; ``timeout`` bounds the wait)."""

    type: Literal["wait"]
    duration: Duration | None = None
    signal: str | None = None
    on_timeout: Literal["fail", "continue"] = "fail"

    @model_validator(mode="after")
    def _one_way(self) -> WaitStep:
        if (self.duration is None) == (self.signal is None):
            raise ValueError("a `wait` step needs exactly one of `duration` or `signal`")
        return self


class _WaitKind(AsyncKind[WaitStep]):
    model = WaitStep
    templated = ()
    shape: Shape = "task"

    def summary(self, step: WaitStep, defaults: Defaults) -> str:
        if step.duration is not None:
            return f"wait {format_duration(step.duration)}"
        return f"wait for signal {step.signal}"

    async def run(
        self, step: WaitStep, rendered: Mapping[str, Any], runtime: Runtime
    ) -> StepOutcome:
        if step.duration is not None:
            await runtime.sleep(step.duration)
            return StepOutcome(output=None, attempt=0)
        assert step.signal is not None
        arrived, payload = await runtime.signal(step.signal, step.timeout)
        if not arrived:
            if step.on_timeout == "continue":
                return StepOutcome(output=None, attempt=0)
            raise StepFailure(
                f"no signal `{step.signal}` arrived within {format_duration(step.timeout or 0)}"
            )
        return StepOutcome(output=payload, attempt=0)


KIND = _WaitKind()

"""The `transform` step: pure data shaping by a template or a built-in function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from interpreter.contract import ACTIVITY_TRANSFORM
from interpreter.fields import Defaults
from interpreter.hints import nearest
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityKind,
    Loc,
    Report,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    retry_of,
)
from interpreter.transforms import FUNCTIONS

__all__ = ["KIND", "TransformCall", "TransformRequest", "TransformStep"]


class TransformStep(StepBase):
    """Pure data shaping: a Jinja template or a built-in function over ``inputs``."""

    type: Literal["transform"]
    template: str | None = None
    function: str | None = None
    inputs: Any = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_way(self) -> TransformStep:
        if (self.template is None) == (self.function is None):
            raise ValueError("a `transform` step needs exactly one of `template` or `function`")
        return self


class TransformCall(StepCall):
    """What the `transform` activity receives: a rendered template, or a function call."""

    function: str | None = None
    inputs: Any = None
    params: dict[str, Any] = Field(default_factory=dict)


class TransformRequest(Payload):
    step: TransformCall
    rendered: Any = None
    """The rendered ``template`` (any type: a single ``{{ expression }}`` keeps its type)."""


class _TransformKind(ActivityKind[TransformStep]):
    model = TransformStep
    templated = ("template", "inputs", "params")
    shape: Shape = "task"
    free_keys_into = "params"

    def summary(self, step: TransformStep, defaults: Defaults) -> str:
        return f"transform {step.function}" if step.function else "transform template"

    def check(self, step: TransformStep, loc: Loc, report: Report) -> None:
        if step.function is not None and step.function not in FUNCTIONS:
            report(
                (*loc, "function"),
                f"step `{step.id}`: unknown transform function `{step.function}`",
                hint=nearest(step.function, FUNCTIONS)
                or "built-in functions: " + ", ".join(sorted(FUNCTIONS)),
            )

    def call(self, step: TransformStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        call = TransformCall.model_validate(
            {
                "id": step.id,
                "jitter": retry_of(step, run.defaults).jitter,
                "function": step.function,
                "inputs": rendered["inputs"],
                "params": rendered["params"],
            }
        )
        return ActivityCall(
            ACTIVITY_TRANSFORM,
            TransformRequest(step=call, rendered=rendered["template"]),
            heartbeat=None,  # pure and quick: it never waits on anything
        )


KIND = _TransformKind()

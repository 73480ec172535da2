"""The `transform` step: pure data shaping by a template or a built-in function.

It is computed in the workflow (:class:`PureKind`): no activity round trip. Runs
recorded before that scheduled the ``step_transform`` activity, and replay with it
(``replays_with``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

from interpreter.contract import ACTIVITY_TRANSFORM, StepOutcome
from interpreter.errors import ERROR_STEP_FAILED, StepError
from interpreter.fields import Defaults
from interpreter.hints import nearest
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityKind,
    Loc,
    PureKind,
    Report,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    StepFailure,
    retry_of,
)
from interpreter.transforms import FUNCTIONS, apply_function, check_output

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


_TEMPLATED = ("template", "inputs", "params")


def _summary(step: TransformStep) -> str:
    return f"transform {step.function}" if step.function else "transform template"


class _TransformActivity(ActivityKind[TransformStep]):
    """The `step_transform` activity call, as runs recorded before transforms ran in the
    workflow made it: they replay with it (workers keep the activity registered)."""

    model = TransformStep
    templated = _TEMPLATED
    shape: Shape = "task"

    def summary(self, step: TransformStep, defaults: Defaults) -> str:
        return _summary(step)

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


class _TransformKind(PureKind[TransformStep]):
    model = TransformStep
    templated = _TEMPLATED
    shape: Shape = "task"
    free_keys_into = "params"
    replays_with = _TransformActivity()
    patch = "transforms-in-workflow"

    def summary(self, step: TransformStep, defaults: Defaults) -> str:
        return _summary(step)

    def check(self, step: TransformStep, loc: Loc, report: Report) -> None:
        if step.function is not None and step.function not in FUNCTIONS:
            report(
                (*loc, "function"),
                f"step `{step.id}`: unknown transform function `{step.function}`",
                hint=nearest(step.function, FUNCTIONS)
                or "built-in functions: " + ", ".join(sorted(FUNCTIONS)),
            )

    def compute(self, step: TransformStep, rendered: Mapping[str, Any]) -> StepOutcome:
        try:
            # as JSON, like the activity's payloads: tuples become lists, keys text, and a
            # value that is not data fails this step rather than the run's result later
            data = to_jsonable_python(dict(rendered))
        except PydanticSerializationError as exc:
            raise StepFailure(
                f"step `{step.id}`: a rendered value is not JSON data: {exc}"
            ) from None
        try:
            if step.function is None:
                output = data["template"]
                check_output(output)
            else:
                output = apply_function(step.function, data["inputs"], data["params"])
        except StepError as exc:
            # the words (and error type) the `step_transform` activity's failure had
            message = str(exc).removeprefix("step `transform`: ")
            raise StepFailure(f"{StepError(step.id, message)} [{ERROR_STEP_FAILED}]") from None
        return StepOutcome(output=output, note="in workflow")


KIND = _TransformKind()

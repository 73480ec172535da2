"""The `loop` step: run a body sub-DAG again and again until a condition holds.

Each iteration is a child `DagWorkflow`, so the parent's history grows by one child per
iteration (about 8 events), not by every step of the body.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from interpreter.contract import RunInput, StepOutcome, Usage
from interpreter.fields import Defaults
from interpreter.steps._kind import AsyncKind, Body, Runtime, Shape, StepBase, StepFailure
from interpreter.templates import TemplateFailure, evaluate_condition

if TYPE_CHECKING:
    from interpreter.steps import Step

__all__ = ["KIND", "LoopStep"]


class LoopStep(StepBase):
    """Run ``steps`` up to ``max_iterations`` times, until ``until`` holds after one."""

    type: Literal["loop"]
    max_iterations: int = Field(ge=1, le=10_000)
    until: str | None = None
    on_exhausted: Literal["continue", "fail"] = "continue"
    steps: list[Step] = Field(min_length=1)


class _LoopKind(AsyncKind[LoopStep]):
    model = LoopStep
    templated = ()
    shape: Shape = "group"

    def summary(self, step: LoopStep, defaults: Defaults) -> str:
        return f"loop ≤{step.max_iterations}"

    def bodies(self, step: LoopStep) -> Iterator[Body]:
        conditions = ((("until",), step.until),) if step.until is not None else ()
        yield Body(tuple(step.steps), ("steps",), single=False, roots=frozenset({"loop"}),
                   conditions=conditions)  # fmt: skip

    async def run(
        self, step: LoopStep, rendered: Mapping[str, Any], runtime: Runtime
    ) -> StepOutcome:
        facts = runtime.facts
        body = [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in step.steps]
        definition = {
            "name": runtime.label,
            "defaults": facts.defaults.model_dump(mode="json", exclude_none=True),
            "steps": body,
            "outputs": {s["id"]: "{{ steps." + s["id"] + ".output }}" for s in body},
        }
        library = {ref: dict(d) for ref, d in facts.library.items()}
        usage = Usage()
        previous: dict[str, Any] | None = None
        last: dict[str, Any] = {}
        for index in range(step.max_iterations):
            loop = {"index": index, "previous": previous}
            scope = runtime.scope_for_body([body, step.until])
            scope = scope.model_copy(update={"roots": {**scope.roots, "loop": loop}})
            result = await runtime.child(
                RunInput(
                    definition=definition,
                    inputs=runtime.inputs_for_body([body, step.until]),
                    offline=facts.offline,
                    library=library,
                    scope=scope,
                ),
                suffix=f"/{index}",
                label=f"{runtime.label}#{index}",
            )  # fmt: skip
            usage = usage + result.usage
            last = dict(result.outputs)
            if step.until is not None:
                iteration = {
                    step_id: {**r.outputs, "output": r.output, "status": r.status}
                    for step_id, r in result.steps.items()
                }
                context = ChainMap(
                    {"loop": loop, "steps": ChainMap(iteration, runtime.context()["steps"])},
                    dict(runtime.context()),
                )
                try:
                    done = evaluate_condition(step.until, context)
                except TemplateFailure as exc:
                    raise StepFailure(f"`until` could not be evaluated: {exc}") from None
                if done:
                    return StepOutcome(
                        output={"iterations": index + 1, "last": last}, usage=usage, attempt=0
                    )
            previous = last
        if step.until is not None and step.on_exhausted == "fail":
            raise StepFailure(
                f"`until` did not hold after {step.max_iterations} iterations (on_exhausted: fail)"
            )
        return StepOutcome(
            output={"iterations": step.max_iterations, "last": last}, usage=usage, attempt=0
        )


KIND = _LoopKind()

"""The `loop` step: run a body sub-DAG again and again until a condition holds.

Each iteration is a child `DagWorkflow`, so a history grows by one child per iteration
(about 9 events), not by every step of the body. A loop of more than :data:`SEGMENT`
iterations runs in segment children of that many iterations each, so no history grows
past about 1,000 events however long the loop (10,000 iterations: 100 segments).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from interpreter.budgets import Budgeted
from interpreter.contract import RunInput, RunResult, Scope, StepOutcome, Usage
from interpreter.fields import Defaults
from interpreter.steps._kind import AsyncKind, Body, Runtime, Shape, StepBase, StepFailure
from interpreter.templates import TemplateFailure, evaluate_condition

if TYPE_CHECKING:
    from interpreter.steps import Step

__all__ = ["KIND", "SEGMENT", "LoopStep"]

SEGMENT = 100
"""Iterations one run holds before a longer loop continues in the next segment child."""
_RESUME = "__loop_resume"
"""Where a segment child learns its first index and the previous iteration's outputs."""


class LoopStep(StepBase, Budgeted):
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
        resume = runtime.scope_for_body(None).roots.get(_RESUME)
        if resume is None and step.max_iterations > SEGMENT:
            return await _segments(step, runtime)
        start = resume["start"] if resume else 0
        previous: dict[str, Any] | None = resume["previous"] if resume else None
        body = _body(step)
        definition = {
            "name": runtime.label,
            "defaults": runtime.facts.defaults.model_dump(mode="json", exclude_none=True),
            "steps": body,
            "outputs": {s["id"]: "{{ steps." + s["id"] + ".output }}" for s in body},
        }
        usage = Usage()
        last: dict[str, Any] = {}
        for index in range(start, start + step.max_iterations):
            loop = {"index": index, "previous": previous}
            scope = runtime.scope_for_body([body, step.until])
            roots = {k: v for k, v in scope.roots.items() if k != _RESUME}
            result = await runtime.child(
                _request(runtime, definition, [body, step.until],
                         scope.model_copy(update={"roots": {**roots, "loop": loop}}),
                         records=step.until is not None),  # `until` reads the body's steps
                suffix=f"/{index}",
                label=f"{runtime.label}#{index}",
            )  # fmt: skip
            usage = usage + result.usage
            last = dict(result.outputs)
            if step.until is not None and _holds(step.until, loop, result, runtime):
                output = {"iterations": index + 1, "last": last}
                if resume is not None:
                    output["until_held"] = True
                return StepOutcome(output=output, usage=usage, attempt=0)
            previous = last
        if resume is None and step.until is not None and step.on_exhausted == "fail":
            raise StepFailure(
                f"`until` did not hold after {step.max_iterations} iterations (on_exhausted: fail)"
            )
        output = {"iterations": start + step.max_iterations, "last": last}
        return StepOutcome(output=output, usage=usage, attempt=0)


def _body(step: LoopStep) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in step.steps]


def _request(
    runtime: Runtime, definition: dict[str, Any], sources: Any, scope: Scope, *, records: bool
) -> RunInput:
    facts = runtime.facts
    return RunInput(
        definition=definition,
        inputs=runtime.inputs_for_body(sources),
        offline=facts.offline,
        library={ref: dict(d) for ref, d in facts.library.items()},
        scope=scope,
        records=records,
    )


def _holds(until: str, loop: dict[str, Any], result: RunResult, runtime: Runtime) -> bool:
    """Does `until` hold after the iteration ``result``? It reads that iteration's steps."""
    iteration = {
        step_id: {**r.outputs, "output": r.output, "status": r.status}
        for step_id, r in result.steps.items()
    }
    outer = runtime.context()
    context = ChainMap({"loop": loop, "steps": ChainMap(iteration, outer["steps"])}, dict(outer))
    try:
        return evaluate_condition(until, context)
    except TemplateFailure as exc:
        raise StepFailure(f"`until` could not be evaluated: {exc}") from None


async def _segments(step: LoopStep, runtime: Runtime) -> StepOutcome:
    """A long loop as segment children of :data:`SEGMENT` iterations each, in order."""
    body = _body(step)
    sources = [body, step.until]
    shared = runtime.scope_for_body(sources)
    usage = Usage()
    done = 0
    previous: dict[str, Any] | None = None
    last: dict[str, Any] = {}
    while done < step.max_iterations:
        count = min(SEGMENT, step.max_iterations - done)
        loop_step: dict[str, Any] = {"id": step.id, "type": "loop", "max_iterations": count,
                                     "steps": body}  # fmt: skip
        if step.until is not None:
            loop_step["until"] = step.until
        definition = {
            "name": f"{runtime.label} {done}-{done + count - 1}",
            "defaults": runtime.facts.defaults.model_dump(mode="json", exclude_none=True),
            "steps": [loop_step],
        }
        scope = Scope(
            roots=shared.roots,
            steps=shared.steps,
            per_step={step.id: {_RESUME: {"start": done, "previous": previous}}},
            labels={step.id: runtime.label},
        )
        result = await runtime.child(
            _request(runtime, definition, sources, scope, records=True),  # the loop step's output
            suffix=f"/segment-{done // SEGMENT}",
            label=f"{runtime.label}#{done}…",
        )
        usage = usage + result.usage
        segment = result.steps[step.id].output
        last = segment["last"]
        done = segment["iterations"]
        if segment.get("until_held"):
            return StepOutcome(output={"iterations": done, "last": last}, usage=usage, attempt=0)
        previous = last
    if step.until is not None and step.on_exhausted == "fail":
        raise StepFailure(
            f"`until` did not hold after {step.max_iterations} iterations (on_exhausted: fail)"
        )
    return StepOutcome(output={"iterations": done, "last": last}, usage=usage, attempt=0)


KIND = _LoopKind()

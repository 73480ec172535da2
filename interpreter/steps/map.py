"""The `map` step: one step (or a sub-DAG) per item of a list, in child runs.

Items run in batches of :data:`BATCH` per child `DagWorkflow`, so the parent's history
holds one child per batch however long the list (10,000 items: 200 children); a
``steps:`` body runs each item as a child of its batch. Results come back in input
order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from interpreter.budgets import Budgeted
from interpreter.contract import RunInput, RunResult, Scope, StepOutcome, Usage
from interpreter.fields import Defaults
from interpreter.steps._kind import AsyncKind, Body, Runtime, Shape, StepBase, StepFailure

if TYPE_CHECKING:
    from interpreter.steps import Step

__all__ = ["BATCH", "KIND", "MapStep"]

BATCH = 50
"""Items per child run."""


class MapStep(StepBase, Budgeted):
    """Run ``step`` (or the sub-DAG ``steps``) once per item of ``items``."""

    type: Literal["map"]
    items: str | list[Any]
    as_: str = Field(default="item", alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_concurrency: int = Field(default=10, gt=0, le=1000)
    on_item_failure: Literal["fail", "continue"] = "fail"
    step: Step | None = None
    """One step per item (its ``id`` defaults to the map's)."""
    steps: list[Step] | None = None
    """A sub-DAG per item."""

    @model_validator(mode="before")
    @classmethod
    def _body_step_id(cls, data: Any) -> Any:
        body = data.get("step") if isinstance(data, Mapping) else None
        if isinstance(body, dict) and "id" not in body and isinstance(data.get("id"), str):
            body["id"] = data["id"]  # the item step is named after the map
        return data

    @model_validator(mode="after")
    def _one_body(self) -> MapStep:
        if (self.step is None) == (self.steps is None):
            raise ValueError("a `map` step needs exactly one of `step` or `steps`")
        if self.steps is not None and not self.steps:
            raise ValueError("a `map` step's `steps` needs at least one step")
        return self


def _type_name(value: Any) -> str:
    names = {str: "a string", dict: "an object", int: "a number", float: "a number"}
    return "nothing (null)" if value is None else names.get(type(value), type(value).__name__)


_ITEM_FAILED = re.compile(r"step `item_(\d+)` failed: (.*)", re.DOTALL)


class _MapKind(AsyncKind[MapStep]):
    model = MapStep
    templated = ("items",)
    shape: Shape = "group"

    def summary(self, step: MapStep, defaults: Defaults) -> str:
        return f"map as {step.as_}"

    def bodies(self, step: MapStep) -> Iterator[Body]:
        roots = frozenset({step.as_, "item", "index"})
        if step.step is not None:
            yield Body((step.step,), ("step",), single=True, roots=roots)
        else:
            yield Body(tuple(step.steps or ()), ("steps",), single=False, roots=roots)

    async def run(
        self, step: MapStep, rendered: Mapping[str, Any], runtime: Runtime
    ) -> StepOutcome:
        items = rendered["items"]
        if not isinstance(items, list):
            raise StepFailure(f"`items` must render to a list; it rendered to {_type_name(items)}")
        if not items:
            return StepOutcome(output=[], attempt=0)
        facts = runtime.facts
        defaults = facts.defaults.model_dump(mode="json", exclude_none=True)
        body = step.step if step.step is not None else step.steps
        shared = runtime.scope_for_body(_dump(body))
        library = {ref: dict(d) for ref, d in facts.library.items()}
        body_ref = f"{runtime.step_id}.body"
        if step.steps is not None:
            steps = [_dump(s) for s in step.steps]
            library[body_ref] = {
                "name": body_ref,
                "defaults": defaults,
                "steps": steps,
                "outputs": {s["id"]: "{{ steps." + s["id"] + ".output }}" for s in steps},
            }
        keep_going = step.on_item_failure == "continue"
        requests = []
        for start in range(0, len(items), BATCH):
            batch = range(start, min(start + BATCH, len(items)))
            item_steps = [
                {**_dump(step.step), "id": f"item_{i}", "continue_on_error": keep_going}
                if step.step is not None
                else {
                    "id": f"item_{i}",
                    "type": "workflow",
                    "workflow": body_ref,
                    "continue_on_error": keep_going,
                }
                for i in batch
            ]
            definition = {
                "name": f"{runtime.label} items {batch.start}-{batch.stop - 1}",
                "defaults": defaults,
                "steps": [
                    {
                        "id": "items",
                        "type": "parallel",
                        "max_concurrency": min(step.max_concurrency, BATCH),
                        "steps": item_steps,
                    }
                ],
            }
            scope = Scope(
                roots=shared.roots,
                steps=shared.steps,
                per_step={
                    f"item_{i}": {step.as_: items[i], "item": items[i], "index": i} for i in batch
                },
                labels={f"item_{i}": f"{runtime.label}[{i}]" for i in batch},
            )
            request = RunInput(
                definition=definition,
                inputs=runtime.inputs_for_body(_dump(body)),
                offline=facts.offline,
                library=library,
                scope=scope,
                records=True,  # each item's output and error: see _collect
            )
            requests.append((request, f"/batch-{start // BATCH}", f"{runtime.label}[{start}…]"))
        try:
            results = await runtime.children(
                requests, concurrency=max(1, step.max_concurrency // BATCH)
            )
        except StepFailure:
            raise
        except Exception as exc:  # a batch failed (on_item_failure: fail)
            raise StepFailure(_item_failure(_message(exc))) from None
        return _collect(results, len(items))


def _dump(value: Any) -> Any:
    """A body step as plain data for a child's definition."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def _message(exc: BaseException) -> str:
    """The innermost message of a child's failure."""
    message = str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        text = getattr(cause, "message", None) or str(cause)
        if text:
            message = text
        cause = cause.__cause__
    return message


def _item_failure(message: str) -> str:
    found = _ITEM_FAILED.search(message)
    if found:
        return f"item {found.group(1)} failed: {found.group(2)}"
    return f"an item failed: {message}"


def _collect(results: list[RunResult], count: int) -> StepOutcome:
    output: list[Any] = [None] * count
    errors: list[dict[str, Any]] = []
    usage = Usage()
    for result in results:
        usage = usage + result.usage
        for step_id, record in result.steps.items():
            if not step_id.startswith("item_"):
                continue
            index = int(step_id.removeprefix("item_"))
            if record.status == "completed":
                output[index] = record.output
            elif record.status == "failed":
                errors.append({"index": index, "error": record.error})
    errors.sort(key=lambda e: e["index"])
    return StepOutcome(output=output, usage=usage, attempt=0, errors=errors)


KIND = _MapKind()

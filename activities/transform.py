"""The `step_transform` activity: functions from the one table in :mod:`interpreter.transforms`.

New runs compute `transform` steps in the workflow (no activity). Runs recorded
before that change schedule this activity, when they replay and while they are
still running, so every worker keeps it registered.
"""

from __future__ import annotations

from temporalio import activity

from activities._failures import classified
from interpreter.contract import ACTIVITY_TRANSFORM, StepOutcome
from interpreter.errors import StepError
from interpreter.steps.transform import TransformRequest
from interpreter.transforms import apply_function

__all__ = ["run_transform"]


@activity.defn(name=ACTIVITY_TRANSFORM)
@classified
async def run_transform(request: TransformRequest) -> StepOutcome:
    """A `transform` step: its template was rendered by the workflow; functions run here."""
    step = request.step
    attempt = activity.info().attempt
    if step.function is None:
        return StepOutcome(output=request.rendered, attempt=attempt)
    try:
        output = apply_function(step.function, step.inputs, step.params)
    except StepError as exc:
        raise StepError(step.id, str(exc).removeprefix("step `transform`: ")) from None
    return StepOutcome(output=output, attempt=attempt)

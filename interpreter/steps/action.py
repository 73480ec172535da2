"""The `action` step: a side effect, built in or a custom activity on the worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from interpreter.contract import ACTIVITY_ACTION, BUILTIN_ACTIONS
from interpreter.fields import Defaults
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityKind,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    retry_of,
)

__all__ = ["KIND", "ActionCall", "ActionRequest", "ActionStep"]


class ActionStep(StepBase):
    """A side effect: log, http/webhook, notify, publish, queue_review, or a custom activity."""

    type: Literal["action"]
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class ActionCall(StepCall):
    """What the built-in `action` activity receives."""

    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class ActionRequest(Payload):
    step: ActionCall
    workflow_id: str = ""
    run_id: str = ""


class _ActionKind(ActivityKind[ActionStep]):
    model = ActionStep
    templated = ("params",)
    shape: Shape = "task"
    free_keys_into = "params"

    def summary(self, step: ActionStep, defaults: Defaults) -> str:
        return f"action {step.action}"

    def call(self, step: ActionStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        params = dict(rendered["params"])
        if step.action not in BUILTIN_ACTIONS:
            # a custom activity registered on the worker under the action's name; its
            # argument is the rendered params and its result is its own
            # (it may not heartbeat, so no heartbeat timeout)
            return ActivityCall(step.action, params, builtin=False, heartbeat=None)
        call = ActionCall(
            id=step.id,
            jitter=retry_of(step, run.defaults).jitter,
            action=step.action,
            params=params,
        )
        payload = ActionRequest(step=call, workflow_id=run.workflow_id, run_id=run.run_id)
        return ActivityCall(ACTIVITY_ACTION, payload)


KIND = _ActionKind()

"""The `action` step: a side effect, built in or a custom activity on the worker."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from interpreter.contract import ACTIVITY_ACTION, BUILTIN_ACTIONS, StepOutcome
from interpreter.fields import Defaults
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityKind,
    PureKind,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    retry_of,
)

__all__ = ["KIND", "LOG_KIND", "ActionCall", "ActionRequest", "ActionStep", "log_line"]


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


def log_line(params: Mapping[str, Any]) -> str:
    """What a `log` action writes and outputs: its ``message``, or else its other params as
    JSON."""
    rest = dict(params)
    message = rest.pop("message", None)
    return message if isinstance(message, str) else json.dumps(rest, default=str)


class _LogKind(PureKind[ActionStep]):
    """The built-in `log` action, computed in the workflow: one round trip fewer. The line
    goes to the worker's log through ``workflow.logger`` (not again on replay)."""

    model = ActionStep
    templated = KIND.templated
    shape: Shape = "task"
    free_keys_into = "params"
    replays_with = KIND

    def summary(self, step: ActionStep, defaults: Defaults) -> str:
        return KIND.summary(step, defaults)

    def compute(self, step: ActionStep, rendered: Mapping[str, Any]) -> StepOutcome:
        # imported here: step modules load for `validate`, which must not pay for temporalio
        from temporalio import workflow

        text = log_line(rendered["params"])
        # the worker's log formatter reads the step from these (llm_orchestrator.logs)
        workflow.logger.info(
            "%s · %s", step.id, text, extra={"step_id": step.id, "step_type": step.type}
        )
        return StepOutcome(output=text, note="in workflow")


LOG_KIND = _LogKind()

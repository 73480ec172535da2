"""The worker interceptor that opens a scope around every step activity.

:class:`StepTelemetry` gives each step activity a ``step <id>`` span (child of the
SDK's ``RunActivity`` span when tracing is on), the step's ids for log records,
and the step metrics. With no tracer provider installed spans are non-recording,
so this costs next to nothing when observability is off.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.telemetry.metrics import Instruments
from activities.telemetry.scope import StepScope, enter_step, record_failure
from interpreter.contract import (
    ACTIVITY_ACTION,
    ACTIVITY_AGENT_TURN,
    ACTIVITY_EMBED,
    ACTIVITY_LLM,
    ACTIVITY_RESOLVE_WORKFLOW,
    ACTIVITY_TRANSFORM,
    ACTIVITY_VECTOR_SEARCH,
)

__all__ = ["StepTelemetry"]

_TRACER_NAME = "llm_orchestrator"

_STEP_TYPES = {
    ACTIVITY_LLM: "llm",
    ACTIVITY_AGENT_TURN: "agent",
    ACTIVITY_EMBED: "embed",
    ACTIVITY_VECTOR_SEARCH: "vector_search",
    ACTIVITY_TRANSFORM: "transform",
    ACTIVITY_ACTION: "action",
}


def _step_labels(activity_type: str, args: Sequence[Any]) -> StepScope:
    request = args[0] if args else None
    step = getattr(request, "step", None)
    if step is None:
        # a custom activity serving `action: <name>`: only its name is known here
        return StepScope(step_id=activity_type, step_type="action")
    offline = bool(getattr(request, "offline", False))
    provider = str(getattr(step, "provider", None) or "")
    model = str(getattr(step, "model", None) or "")
    if activity_type == ACTIVITY_VECTOR_SEARCH:
        provider, _, model = (getattr(step, "embedder", None) or "offline/hashed").partition("/")
    if offline and provider:
        provider = "offline"
    return StepScope(
        step_id=str(step.id),
        step_type=_STEP_TYPES.get(activity_type, str(getattr(step, "type", "action"))),
        provider=provider,
        model=model,
    )


class StepTelemetry(Interceptor):
    """Worker interceptor: a span, log ids and metrics around every step activity.

    ``meter`` is the runtime's metric meter (no-op when metrics are off);
    ``tracer_provider`` defaults to the global one set up at worker start;
    ``capture_content`` records prompts and replies on GenAI spans.
    """

    def __init__(
        self,
        meter: MetricMeter | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        capture_content: bool = False,
    ) -> None:
        self.instruments = Instruments(meter or MetricMeter.noop)
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = provider.get_tracer(_TRACER_NAME)
        self.capture_content = capture_content

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _StepInbound(next, self)


class _StepInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: StepTelemetry) -> None:
        super().__init__(next)
        self._root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type == ACTIVITY_RESOLVE_WORKFLOW:
            return await super().execute_activity(input)
        scope = dataclasses.replace(
            _step_labels(info.activity_type, input.args),
            attempt=info.attempt,
            tracer=self._root.tracer,
            instruments=self._root.instruments,
            capture_content=self._root.capture_content,
        )
        metric_labels = {
            "step_type": scope.step_type,
            "provider": scope.provider,
            "model": scope.model,
        }
        instruments = self._root.instruments
        if info.attempt > 1:
            instruments.step_retries.add(1, metric_labels)
        attributes: dict[str, AttributeValue] = {
            "llm_orchestrator.step.id": scope.step_id,
            "llm_orchestrator.step.type": scope.step_type,
            "llm_orchestrator.step.attempt": scope.attempt,
            "temporalWorkflowID": info.workflow_id or "",
            "temporalRunID": info.workflow_run_id or "",
        }
        if scope.provider:
            attributes["llm_orchestrator.step.provider"] = scope.provider
        if scope.model:
            attributes["llm_orchestrator.step.model"] = scope.model
        # not reset afterwards: each activity runs in a task of its own, and the SDK's
        # "Completing activity as failed" record, logged after we return, should name the step
        enter_step(scope)
        status = "failed"
        start = time.monotonic()
        try:
            with scope.tracer.start_as_current_span(
                f"step {scope.step_id}",
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    result = await super().execute_activity(input)
                except ApplicationError as exc:
                    record_failure(span, exc, exc.type or type(exc).__name__)
                    raise
                except BaseException as exc:
                    if activity.is_cancelled():
                        status = "cancelled"
                    record_failure(span, exc, type(exc).__name__)
                    raise
            status = "completed"
            return result
        finally:
            instruments.step_duration.record(
                time.monotonic() - start, {**metric_labels, "status": status}
            )

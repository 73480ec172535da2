"""The step an activity runs, as logs, spans and metrics label it, and span failures.

The worker interceptor (:mod:`activities.telemetry.interceptor`) sets the scope
when a step activity starts; provider calls (:mod:`activities.telemetry.genai`)
and log records (``llm_orchestrator.logs``) read it.
"""

from __future__ import annotations

import contextvars
import traceback
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from activities.redaction import redact
from activities.telemetry.metrics import Instruments

__all__ = ["StepScope", "current_step", "record_failure"]


@dataclass(frozen=True)
class StepScope:
    """The step an activity is running, as logs and metrics label it."""

    step_id: str
    step_type: str
    provider: str = ""
    model: str = ""
    attempt: int = 1
    tracer: trace.Tracer = field(default=trace.NoOpTracer(), repr=False, compare=False)
    instruments: Instruments | None = field(default=None, repr=False, compare=False)
    capture_content: bool = field(default=False, repr=False, compare=False)
    """Record prompts and replies on GenAI spans (off unless the worker says so)."""


_scope: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "llm_orchestrator_step", default=None
)


def current_step() -> StepScope | None:
    """The step the current activity runs, if any."""
    return _scope.get()


def enter_step(scope: StepScope) -> None:
    """Make ``scope`` the current step of this task (and of tasks it starts)."""
    _scope.set(scope)


def record_failure(span: trace.Span, exc: BaseException, error_type: str) -> None:
    """Mark ``span`` failed with ``exc``, its message and traceback redacted."""
    message = redact(str(exc))
    span.set_attribute("error.type", error_type)
    span.record_exception(
        exc,
        attributes={
            "exception.message": message,
            "exception.stacktrace": redact("".join(traceback.format_exception(exc))),
        },
    )
    span.set_status(Status(StatusCode.ERROR, message[:500]))

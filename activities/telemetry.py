"""What steps and provider calls report: OpenTelemetry spans and our metrics.

A worker interceptor, :class:`StepTelemetry`, opens a scope around every step
activity: a ``step <id>`` span (child of the SDK's ``RunActivity`` span when
tracing is on), the step's ids for log records, and the step metrics. Inside
it, :func:`provider_call` wraps each model call in a span that follows the
OpenTelemetry GenAI semantic conventions and counts tokens and cost.

Metrics go through the Temporal SDK's runtime meter, so they are served on the
same Prometheus endpoint as the SDK's own. With no metrics configured the meter
is a no-op, and with no tracer provider installed spans are non-recording, so
all of this costs next to nothing when observability is off.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from interpreter.contract import (
    ACTIVITY_ACTION,
    ACTIVITY_EMBED,
    ACTIVITY_LLM,
    ACTIVITY_RESOLVE_WORKFLOW,
    ACTIVITY_TRANSFORM,
    ACTIVITY_VECTOR_SEARCH,
    Usage,
)
from interpreter.errors import ProviderError
from interpreter.steps.llm import LlmCall

__all__ = [
    "BREAKER_STATES",
    "CAPTURE_CONTENT_ENV",
    "HISTOGRAM_BUCKETS",
    "ProviderCall",
    "StepScope",
    "StepTelemetry",
    "current_step",
    "known_secrets",
    "provider_call",
    "rate_limit_waited",
    "remember_secret",
]

TRACER_NAME = "llm_orchestrator"
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

STEP_DURATION = "llm_orchestrator_step_duration_seconds"
STEP_RETRIES = "llm_orchestrator_step_retries_total"
CALL_DURATION = "llm_orchestrator_provider_call_duration_seconds"
TOKENS = "llm_orchestrator_tokens_total"
COST = "llm_orchestrator_cost_usd"
BREAKER_STATE = "llm_orchestrator_breaker_state"
RATE_LIMIT_WAIT = "llm_orchestrator_rate_limit_wait_seconds"

BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
HISTOGRAM_BUCKETS: dict[str, tuple[float, ...]] = {
    STEP_DURATION: _SECONDS,
    CALL_DURATION: _SECONDS,
    RATE_LIMIT_WAIT: (0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
    COST: (0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10),
}
"""Bucket boundaries for our histograms (the SDK's defaults suit milliseconds)."""

_STEP_TYPES = {
    ACTIVITY_LLM: "llm",
    ACTIVITY_EMBED: "embed",
    ACTIVITY_VECTOR_SEARCH: "vector_search",
    ACTIVITY_TRANSFORM: "transform",
    ACTIVITY_ACTION: "action",
}

# --- secrets the providers hold (for the log redaction filter) -----------------------

_secrets: set[str] = set()


def remember_secret(value: str | None) -> None:
    """Record a key read from a secrets file, so log redaction knows it too."""
    if value and len(value) >= 8:
        _secrets.add(value)


def known_secrets() -> frozenset[str]:
    return frozenset(_secrets)


# --- the step scope ----------------------------------------------------------------------


class _Instruments:
    """Our metric instruments, created once per worker on the runtime's meter."""

    def __init__(self, meter: MetricMeter) -> None:
        self.step_duration = meter.create_histogram_float(
            STEP_DURATION, "Step activity attempts: wall time in seconds"
        )
        self.step_retries = meter.create_counter(
            STEP_RETRIES, "Step activity attempts after the first"
        )
        self.call_duration = meter.create_histogram_float(
            CALL_DURATION, "Model provider calls: wall time in seconds"
        )
        self.tokens = meter.create_counter(TOKENS, "Tokens reported by model providers")
        self.cost = meter.create_histogram_float(
            COST, "Cost of provider calls in USD (the _sum series is the running total)"
        )
        self.breaker = meter.create_gauge(
            BREAKER_STATE, "Circuit breaker per provider: 0 closed, 1 half-open, 2 open"
        )
        self.rate_limit_wait = meter.create_histogram_float(
            RATE_LIMIT_WAIT, "Seconds a provider call waited for the worker's rate limiter"
        )


@dataclass(frozen=True)
class StepScope:
    """The step an activity is running, as logs and metrics label it."""

    step_id: str
    step_type: str
    provider: str = ""
    model: str = ""
    attempt: int = 1
    tracer: trace.Tracer = field(default=trace.NoOpTracer(), repr=False, compare=False)
    instruments: _Instruments | None = field(default=None, repr=False, compare=False)


_scope: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "llm_orchestrator_step", default=None
)


def current_step() -> StepScope | None:
    """The step the current activity runs, if any."""
    return _scope.get()


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
    ``tracer_provider`` defaults to the global one set up at worker start.
    """

    def __init__(
        self,
        meter: MetricMeter | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.instruments = _Instruments(meter or MetricMeter.noop)
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = provider.get_tracer(TRACER_NAME)

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
        _scope.set(scope)
        status = "failed"
        start = time.monotonic()
        try:
            with scope.tracer.start_as_current_span(
                f"step {scope.step_id}",
                attributes=attributes,
                record_exception=True,
                set_status_on_exception=True,
            ) as span:
                try:
                    result = await super().execute_activity(input)
                except ApplicationError as exc:
                    span.set_attribute("error.type", exc.type or type(exc).__name__)
                    raise
                except BaseException as exc:
                    if activity.is_cancelled():
                        status = "cancelled"
                    span.set_attribute("error.type", type(exc).__name__)
                    raise
            status = "completed"
            return result
        finally:
            instruments.step_duration.record(
                time.monotonic() - start, {**metric_labels, "status": status}
            )


# --- provider calls ------------------------------------------------------------------


def _capture_content() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("true", "1", "yes")


def _text_parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


def _input_messages(step: LlmCall) -> list[dict[str, Any]]:
    messages = [{"role": m.role, "parts": _text_parts(m.content)} for m in step.messages]
    if step.prompt is not None:
        messages.append({"role": "user", "parts": _text_parts(step.prompt)})
    return messages


@dataclass
class ProviderCall:
    """Handle on one provider call's span; :meth:`answered` records what came back."""

    provider: str
    operation: str
    span: trace.Span = field(default_factory=lambda: trace.INVALID_SPAN)
    instruments: _Instruments | None = None
    capture: bool = False

    def answered(
        self,
        model: str,
        usage: Usage,
        *,
        finish_reason: str | None = None,
        response_id: str | None = None,
        text: str | None = None,
    ) -> None:
        span = self.span
        span.set_attribute("gen_ai.response.model", model)
        span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
        if self.operation == "chat":
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        if finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        if response_id:
            span.set_attribute("gen_ai.response.id", response_id)
        if usage.cost_usd:
            span.set_attribute("llm_orchestrator.cost_usd", usage.cost_usd)
        if self.capture and text is not None:
            output = [
                {
                    "role": "assistant",
                    "parts": _text_parts(text),
                    "finish_reason": finish_reason or "",
                }
            ]
            span.set_attribute("gen_ai.output.messages", json.dumps(output, ensure_ascii=False))
        if self.instruments is None:
            return
        labels = {"provider": self.provider, "model": model}
        for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
            if count:
                self.instruments.tokens.add(count, {**labels, "type": kind})
        self.instruments.cost.record(usage.cost_usd, labels)


def _server(provider: object) -> tuple[str, str, int | None]:
    """(gen_ai.provider.name, server.address, server.port) of a provider object."""
    endpoint = getattr(provider, "endpoint", None)
    settings = getattr(endpoint, "settings", None)
    if settings is None:
        return str(getattr(provider, "name", "unknown")), "", None
    url = urlsplit(str(settings.base_url))
    return str(settings.kind), url.hostname or "", url.port


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, ProviderError) and exc.status is not None:
        return str(exc.status)
    if isinstance(exc, ApplicationError) and exc.type:
        return exc.type
    return type(exc).__name__


@contextmanager
def provider_call(
    provider: object,
    operation: str,
    *,
    model: str | None,
    step: LlmCall | None = None,
) -> Iterator[ProviderCall]:
    """A CLIENT span named ``{operation} {model}`` around one model call, plus metrics.

    ``operation`` is the GenAI operation name (``chat``, ``embeddings``). Prompt and
    reply text are recorded only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
    is true.
    """
    scope = _scope.get()
    name = str(getattr(provider, "name", "unknown"))
    if scope is None:  # outside a step activity (unit tests, tools): nothing to report
        yield ProviderCall(name, operation)
        return
    system, address, port = _server(provider)
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": operation,
        "gen_ai.system": system,
        "gen_ai.provider.name": system,
        "llm_orchestrator.provider": name,
        "llm_orchestrator.step.id": scope.step_id,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    if address:
        attributes["server.address"] = address
    if port:
        attributes["server.port"] = port
    capture = _capture_content()
    if step is not None:
        for key, value in (
            ("gen_ai.request.temperature", step.temperature),
            ("gen_ai.request.max_tokens", step.max_tokens),
            ("gen_ai.request.top_p", step.top_p),
        ):
            if value is not None:
                attributes[key] = value
        if step.stop:
            attributes["gen_ai.request.stop_sequences"] = list(step.stop)
        if capture:
            attributes["gen_ai.input.messages"] = json.dumps(
                _input_messages(step), ensure_ascii=False
            )
            if step.system:
                attributes["gen_ai.system_instructions"] = json.dumps(
                    _text_parts(step.system), ensure_ascii=False
                )
    instruments = scope.instruments
    outcome = "error"
    start = time.monotonic()
    try:
        with scope.tracer.start_as_current_span(
            f"{operation} {model}" if model else operation,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            call = ProviderCall(name, operation, span, instruments, capture)
            try:
                yield call
            except BaseException as exc:
                span.set_attribute("error.type", _error_type(exc))
                span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
                raise
            outcome = "ok"
    finally:
        if instruments is not None:
            instruments.call_duration.record(
                time.monotonic() - start,
                {
                    "provider": name,
                    "operation": operation,
                    "model": model or "",
                    "outcome": outcome,
                },
            )
            breaker = getattr(getattr(provider, "endpoint", None), "breaker", None)
            if breaker is not None:
                instruments.breaker.set(BREAKER_STATES.get(breaker.state, 0), {"provider": name})


def rate_limit_waited(provider: str, seconds: float) -> None:
    """Record the time a call waited for the worker's rate limiter (hook in ``HttpEndpoint``)."""
    scope = _scope.get()
    if scope is None or scope.instruments is None:
        return
    scope.instruments.rate_limit_wait.record(seconds, {"provider": provider})
    if seconds > 0:
        trace.get_current_span().set_attribute("llm_orchestrator.rate_limit_wait_s", seconds)

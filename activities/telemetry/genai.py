"""GenAI spans and metrics around each model call.

:func:`provider_call` wraps one call to a model provider in a CLIENT span that
follows the OpenTelemetry GenAI semantic conventions and counts its duration,
tokens and cost. Outside a step activity (unit tests, tools) it reports nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue
from temporalio.exceptions import ApplicationError

from activities.telemetry.metrics import BREAKER_STATES, Instruments
from activities.telemetry.scope import current_step, record_failure
from interpreter.contract import Usage
from interpreter.errors import ProviderError
from interpreter.steps.llm import LlmCall

__all__ = ["ProviderCall", "provider_call", "rate_limit_waited"]


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
    instruments: Instruments | None = None
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


def _request_attributes(step: LlmCall, capture: bool) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {}
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
        attributes["gen_ai.input.messages"] = json.dumps(_input_messages(step), ensure_ascii=False)
        if step.system:
            attributes["gen_ai.system_instructions"] = json.dumps(
                _text_parts(step.system), ensure_ascii=False
            )
    return attributes


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
    reply text are recorded only when the worker's settings say so
    (``ActivitySettings.capture_content``).
    """
    scope = current_step()
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
    capture = scope.capture_content
    if step is not None:
        attributes.update(_request_attributes(step, capture))
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
                record_failure(span, exc, _error_type(exc))
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
    scope = current_step()
    if scope is None or scope.instruments is None:
        return
    scope.instruments.rate_limit_wait.record(seconds, {"provider": provider})
    if seconds > 0:
        trace.get_current_span().set_attribute("llm_orchestrator.rate_limit_wait_s", seconds)

"""Tracing and metrics set-up for workers and clients, from flags and the environment.

Called at process start (CLI `worker`, `run`, `start`), never at import: the
workflow sandbox re-imports workflow code, and a tracer provider or a metrics
server must exist once per process.

- Traces: OpenTelemetry, configured by the standard ``OTEL_*`` variables and
  off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
  or ``OTEL_TRACES_EXPORTER`` is set. The SDK's ``TracingInterceptor`` goes on the
  client, so it applies to the workers built on it and carries the trace across
  processes in Temporal headers.
- Metrics: a Temporal ``Runtime`` with a Prometheus endpoint; the SDK's metrics
  and ours (``activities.telemetry``) share it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Interceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from activities.telemetry import HISTOGRAM_BUCKETS
from interpreter.errors import OrchestratorError

__all__ = [
    "Observability",
    "parse_bind",
    "setup",
    "tracing_configured",
    "worker_runtime",
]

DEFAULT_SERVICE_NAME = "llm-orchestrator"


@dataclass
class Observability:
    """What a process set up: pass ``runtime`` and ``interceptors`` to ``connect``."""

    runtime: Runtime | None = None
    interceptors: list[Interceptor] = field(default_factory=list)
    tracer_provider: Any = None
    """The SDK ``TracerProvider`` when tracing is on."""
    metrics_address: str | None = None

    def shutdown(self) -> None:
        """Flush and stop the span exporter (spans still queued are sent now)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def parse_bind(text: str) -> str:
    """``HOST:PORT`` (``:PORT`` means all interfaces) checked and normalised."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise OrchestratorError(f"--metrics-bind {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    return f"{host or '0.0.0.0'}:{int(port)}"


def worker_runtime(metrics_bind: str | None = None) -> Runtime:
    """A Temporal runtime whose Core logs go through Python logging (so through our
    handler and its redaction), serving Prometheus metrics on ``metrics_bind`` if given."""
    metrics = None
    if metrics_bind:
        metrics = PrometheusConfig(
            bind_address=parse_bind(metrics_bind),
            durations_as_seconds=True,
            histogram_bucket_overrides={
                name: list(buckets) for name, buckets in HISTOGRAM_BUCKETS.items()
            },
        )
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    try:
        return Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))
    except Exception as exc:  # the core reports a busy port as a plain RuntimeError
        if metrics is None:
            raise
        raise OrchestratorError(f"cannot serve metrics on {metrics_bind}: {exc}") from None


def tracing_configured(env: Mapping[str, str]) -> bool:
    """Do the standard OTEL_* variables ask for traces?"""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _span_exporter(name: str, env: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise OrchestratorError(
            f"OTEL_TRACES_EXPORTER={name!r} is not supported here (use otlp, console or none)"
        )
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    # the exporters read endpoint, headers, certificates, compression and timeout
    # from the OTEL_EXPORTER_OTLP_* variables themselves
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    raise OrchestratorError(
        f"OTLP protocol {protocol!r} is not supported (use http/protobuf or grpc)"
    )


def _setup_tracing(env: Mapping[str, str], *, service_name: str) -> Any:
    """Install a global tracer provider exporting as OTEL_* says; None when tracing is off."""
    if not tracing_configured(env):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise OrchestratorError(
            "tracing is configured (OTEL_* variables) but the OpenTelemetry SDK is not "
            "installed: pip install 'llm-orchestrator[otel]'"
        ) from None
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours is the fallback
    resource = Resource.create({} if named else {"service.name": service_name})
    provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    for name in names:
        if name and name != "none":
            provider.add_span_processor(BatchSpanProcessor(_span_exporter(name, env)))
    trace.set_tracer_provider(provider)
    return provider


def setup(
    *,
    metrics_bind: str | None = None,
    service_name: str = DEFAULT_SERVICE_NAME,
    env: Mapping[str, str] | None = None,
) -> Observability:
    """Tracing from OTEL_* (if configured) and a Prometheus endpoint (if ``metrics_bind``).

    ``env`` defaults to the process environment, read here once.
    """
    env = os.environ if env is None else env
    result = Observability(runtime=worker_runtime(metrics_bind))
    if metrics_bind:
        result.metrics_address = parse_bind(metrics_bind)
    provider = _setup_tracing(env, service_name=service_name)
    if provider is not None:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        result.tracer_provider = provider
        result.interceptors.append(TracingInterceptor(provider.get_tracer("temporalio")))
    return result

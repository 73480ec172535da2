"""Our metric names, histogram buckets and instruments.

Metrics go through the Temporal SDK's runtime meter, so they are served on the
same Prometheus endpoint as the SDK's own; with no metrics configured the meter
is a no-op.
"""

from __future__ import annotations

from temporalio.common import MetricMeter

__all__ = [
    "BREAKER_STATE",
    "BREAKER_STATES",
    "CALL_DURATION",
    "COST",
    "HISTOGRAM_BUCKETS",
    "RATE_LIMIT_WAIT",
    "STEP_DURATION",
    "STEP_RETRIES",
    "TOKENS",
    "Instruments",
]

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


class Instruments:
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

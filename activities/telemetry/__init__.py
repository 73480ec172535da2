"""What steps and provider calls report: OpenTelemetry spans and our metrics.

- :mod:`~activities.telemetry.metrics`: metric names, buckets and instruments;
- :mod:`~activities.telemetry.scope`: the step an activity runs (for logs and spans);
- :mod:`~activities.telemetry.interceptor`: the worker interceptor around step activities;
- :mod:`~activities.telemetry.genai`: GenAI spans and metrics around model calls.
"""

from activities.telemetry.genai import ProviderCall, provider_call, rate_limit_waited
from activities.telemetry.interceptor import StepTelemetry
from activities.telemetry.metrics import (
    BREAKER_STATE,
    BREAKER_STATES,
    CALL_DURATION,
    COST,
    HISTOGRAM_BUCKETS,
    RATE_LIMIT_WAIT,
    STEP_DURATION,
    STEP_RETRIES,
    TOKENS,
)
from activities.telemetry.scope import StepScope, current_step

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
    "ProviderCall",
    "StepScope",
    "StepTelemetry",
    "current_step",
    "provider_call",
    "rate_limit_waited",
]

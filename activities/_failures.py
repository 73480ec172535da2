"""Turn exceptions inside activities into Temporal failures with stable types.

Temporal owns retries: an error is either retryable (the activity's retry policy
decides when) or non-retryable (the step fails at once). The attempt number
travels in the failure's details so the run's result can report it. Which HTTP
answers are worth retrying is decided here, once, for providers, vector stores
and http actions alike (:func:`retryable_status`). Messages and step outcomes are
redacted on the way out: both land in the run's history and result.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.redaction import redact, redact_value
from interpreter.contract import StepOutcome, Usage
from interpreter.conversation import AgentTurn
from interpreter.errors import (
    ERROR_CONTEXT_LENGTH,
    ERROR_PROVIDER,
    ERROR_PROVIDER_REJECTED,
    ERROR_STEP_FAILED,
    ProviderError,
    StepError,
)
from interpreter.steps import StepCall

__all__ = [
    "classified",
    "context_length_exceeded",
    "provider_error_type",
    "retryable_status",
    "step_failure",
]

P = ParamSpec("P")
R = TypeVar("R")

_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
"""4xx answers that may succeed later (timeout, conflict, too early, rate limited)."""


def retryable_status(status: int) -> bool:
    """Is an HTTP error answer worth retrying? The listed 4xx and every 5xx (529 included)."""
    return status in _RETRYABLE_4XX or status >= 500


_CONTEXT_LENGTH = re.compile(
    r"context_length_exceeded|maximum context length|prompt is too long|context window"
    r"|too many (?:input )?tokens",
    re.IGNORECASE,
)
"""How vendors say a prompt does not fit: OpenAI's ``context_length_exceeded`` code and
"maximum context length" message, Anthropic's "prompt is too long", and the wording of
OpenAI-compatible servers (vLLM, llama.cpp: "context window", "too many tokens")."""


def context_length_exceeded(body: str) -> bool:
    """Does an error answer's body say that the prompt is longer than the model's context?"""
    return bool(_CONTEXT_LENGTH.search(body))


def provider_error_type(exc: ProviderError) -> str:
    """The ``ApplicationError`` type of a provider failure: what its raiser said, else a
    context-length error, else transient (retryable) or rejected."""
    if exc.error_type:
        return exc.error_type
    if not exc.retryable and context_length_exceeded(str(exc)):
        return ERROR_CONTEXT_LENGTH
    return ERROR_PROVIDER if exc.retryable else ERROR_PROVIDER_REJECTED


def _next_delay(retry_after: float | None, *, jitter: bool = True) -> float | None:
    """When the next attempt should start: the server's wish, else the policy's backoff.

    Temporal's retry policy has no jitter, so many runs failing together would retry
    together; we spread them by ±20% around the policy's backoff (10% above a
    server-given delay, never earlier than asked).
    """
    if retry_after is not None:
        return retry_after * (random.uniform(1.0, 1.1) if jitter else 1.0)
    if not jitter or not activity.in_activity():
        return None
    info = activity.info()
    policy = info.retry_policy
    if policy is None:
        return None
    initial = policy.initial_interval.total_seconds() if policy.initial_interval else 1.0
    delay = initial * (policy.backoff_coefficient ** (info.attempt - 1))
    cap = policy.maximum_interval.total_seconds() if policy.maximum_interval else initial * 100
    return min(delay, cap) * random.uniform(0.8, 1.2)


def step_failure(
    message: str,
    *,
    type: str = ERROR_STEP_FAILED,
    retryable: bool = False,
    retry_after: float | None = None,
    jitter: bool = True,
    usage: Usage | None = None,
) -> ApplicationError:
    """An ``ApplicationError`` for the current attempt, with the attempt in its details, and
    the tokens it spent (``usage``: a model answered, but not well enough) so that the run
    still counts them."""
    attempt = activity.info().attempt if activity.in_activity() else 1
    delay = _next_delay(retry_after, jitter=jitter) if retryable else None
    details: dict[str, Any] = {"attempt": attempt}
    if usage is not None:
        details["usage"] = usage.model_dump()
    return ApplicationError(
        redact(message),
        details,
        type=type,
        non_retryable=not retryable,
        next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
    )


def _jitter(args: tuple[Any, ...]) -> bool:
    """The step's `retry.jitter`, found on the activity's request argument."""
    for arg in args:
        step = getattr(arg, "step", None)
        if isinstance(step, StepCall):
            return step.jitter
    return True


def _redacted(result: R) -> R:
    """A step's outcome (or an agent turn) with secrets masked in what the model or tool
    wrote: output and extras, a turn's text and tool-call arguments (usage has none)."""
    if isinstance(result, StepOutcome):
        return result.model_copy(
            update={"output": redact_value(result.output), "extras": redact_value(result.extras)}
        )
    if isinstance(result, AgentTurn):
        calls = [c.model_copy(update={"arguments": redact(c.arguments)}) for c in result.tool_calls]
        return result.model_copy(update={"text": redact(result.text), "tool_calls": calls})
    return result


def classified(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator for step activities: map our exceptions onto retryable / non-retryable
    ``ApplicationError``, and redact secrets from what the step returns."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return _redacted(await fn(*args, **kwargs))
        except ApplicationError:
            raise
        except ProviderError as exc:
            raise step_failure(
                str(exc),
                type=provider_error_type(exc),
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                jitter=_jitter(args),
            ) from None
        except StepError as exc:
            raise step_failure(str(exc), type=exc.error_type) from None

    return wrapper

"""Turn exceptions inside activities into Temporal failures with stable types.

Temporal owns retries: an error is either retryable (the activity's retry policy
decides when) or non-retryable (the step fails at once). The attempt number
travels in the failure's details so the run's result can report it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from interpreter.errors import ERROR_PROVIDER, ERROR_STEP_FAILED, ProviderError, StepError

P = ParamSpec("P")
R = TypeVar("R")


def step_failure(
    message: str,
    *,
    type: str = ERROR_STEP_FAILED,
    retryable: bool = False,
    retry_after: float | None = None,
) -> ApplicationError:
    """An ``ApplicationError`` for the current attempt, with the attempt in its details."""
    attempt = activity.info().attempt if activity.in_activity() else 1
    return ApplicationError(
        message,
        {"attempt": attempt},
        type=type,
        non_retryable=not retryable,
        next_retry_delay=timedelta(seconds=retry_after) if retry_after else None,
    )


def classified(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator: map our exceptions onto retryable / non-retryable ``ApplicationError``."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ApplicationError:
            raise
        except ProviderError as exc:
            retry_after = None
            raw = exc.headers.get("retry-after")
            if raw:
                try:
                    retry_after = float(raw)
                except ValueError:
                    retry_after = None
            raise step_failure(
                f"{exc.provider}: {exc}" + (f" (HTTP {exc.status})" if exc.status else ""),
                type=ERROR_PROVIDER,
                retryable=exc.retryable,
                retry_after=retry_after,
            ) from None
        except StepError as exc:
            raise step_failure(str(exc), type=exc.error_type) from None

    return wrapper

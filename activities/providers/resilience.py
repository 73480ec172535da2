"""Per-provider circuit breaker and rate limits, inside one worker process.

Rate limits use ``aiolimiter`` (a maintained asyncio leaky bucket). The breaker
is ours, forty lines: the libraries we looked at (aiobreaker, purgatory,
pybreaker) raise a bare "circuit open" error, while we must tell Temporal *how
long* the circuit stays open, so the retry lands when a probe is allowed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiolimiter import AsyncLimiter

__all__ = ["BreakerOpen", "CircuitBreaker", "RateLimits"]


class BreakerOpen(Exception):
    """The breaker refuses a request. The message leads with the failure that opened it:
    that is what the user must fix, the open breaker is only how it shows."""

    def __init__(self, remaining: float, cause: str, since: datetime | None) -> None:
        when = f" since {since:%H:%M:%S} UTC" if since else ""
        super().__init__(f"{cause} (circuit open{when}; next probe in {remaining:.1f}s)")
        self.remaining = remaining
        self.cause = cause


@dataclass
class CircuitBreaker:
    """closed → (N consecutive failures) → open → (cool-down) → half-open: one probe."""

    failures_to_open: int = 5
    cooldown: float = 30.0
    clock: object = field(default=time.monotonic, repr=False)
    _failures: int = 0
    _opened_at: float | None = None
    _probing: bool = False
    opened: list[tuple[float, float]] = field(default_factory=list, repr=False)
    """(opened at, probe allowed from) for the last openings, newest last."""
    _last_cause: str = "repeated failures"
    _opened_wall: datetime | None = None

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator,no-any-return]

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._now() - self._opened_at >= self.cooldown else "open"

    def before_request(self) -> None:
        """Raise :class:`BreakerOpen` unless a request may be sent now."""
        if self._opened_at is None:
            return
        remaining = self.cooldown - (self._now() - self._opened_at)
        if remaining > 0:
            raise BreakerOpen(remaining, self._last_cause, self._opened_wall)
        if self._probing:
            raise BreakerOpen(min(self.cooldown, 1.0), self._last_cause, self._opened_wall)
        self._probing = True

    def success(self) -> None:
        if self._opened_at is not None and not self._probing:
            # an answer to a request sent before the breaker opened; only the probe closes it
            return
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failure(self, cause: str | None = None) -> None:
        """Count a failure; ``cause`` (the error's message) is what an open breaker reports."""
        self._failures += 1
        if cause:
            self._last_cause = cause
        if self._probing or self._failures >= self.failures_to_open:
            self._opened_at = self._now()
            self._opened_wall = datetime.now(UTC)
            self.opened.append((self._opened_at, self._opened_at + self.cooldown))
            del self.opened[:-100]
        self._probing = False


class RateLimits:
    """Requests-per-minute and tokens-per-minute buckets (either may be absent)."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self._requests = AsyncLimiter(rpm, 60) if rpm else None
        self._tokens = AsyncLimiter(tpm, 60) if tpm else None

    async def acquire(self, estimated_tokens: int) -> float:
        """Wait for capacity; return the seconds waited."""
        start = time.monotonic()
        if self._requests is not None:
            await self._requests.acquire()
        if self._tokens is not None:
            await self._tokens.acquire(min(float(estimated_tokens), self._tokens.max_rate))
        return time.monotonic() - start

"""The per-provider circuit breaker, on a clock the test moves.

What a user notices: after N failures in a row requests stop going out, each
refusal says how long the breaker stays open (that becomes the retry delay), and
after the cool-down one probe decides whether traffic resumes.
"""

from __future__ import annotations

import pytest

from activities.providers.resilience import BreakerOpen, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failures_to_open=3, cooldown=30.0, clock=clock)


def fail(breaker: CircuitBreaker, times: int, cause: str = "HTTP 503: unavailable") -> None:
    for _ in range(times):
        breaker.before_request()
        breaker.failure(cause)


def test_opens_after_n_consecutive_failures_not_before(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert breaker.state == "closed"
    breaker.before_request()  # still lets requests through
    breaker.failure()
    assert breaker.state == "open"
    with pytest.raises(BreakerOpen):
        breaker.before_request()


def test_a_success_in_between_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.before_request()
    breaker.success()
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker, 1)
    assert breaker.state == "open"


def test_an_open_breaker_fails_fast_with_its_cause_and_the_time_it_stays_open(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 2, "connection refused")
    fail(breaker, 1, "HTTP 503: unavailable")
    clock.now += 12
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_request()
    assert caught.value.remaining == pytest.approx(18.0)
    # the message leads with the failure that opened it: that is what the user must fix
    message = str(caught.value)
    assert message.startswith("HTTP 503: unavailable (circuit open since ")
    assert message.endswith("; next probe in 18.0s)")
    assert breaker.opened == [(1000.0, 1030.0)]


def test_after_the_cooldown_one_probe_goes_out_and_its_success_closes(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now += 30
    assert breaker.state == "half_open"
    breaker.before_request()  # the probe
    # while the probe is out, everything else still waits, briefly
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_request()
    assert caught.value.remaining == pytest.approx(1.0)
    breaker.success()
    assert breaker.state == "closed"
    breaker.before_request()
    # and the failure count starts again from zero
    fail(breaker, 2)
    assert breaker.state == "closed"


def test_a_failed_probe_reopens_for_a_full_cooldown(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 31
    breaker.before_request()
    breaker.failure()
    assert breaker.state == "open"
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_request()
    assert caught.value.remaining == pytest.approx(30.0)
    assert breaker.opened == [(1000.0, 1030.0), (1031.0, 1061.0)]


def test_only_the_probe_closes_it_not_a_late_answer_to_an_earlier_request(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    breaker.before_request()  # a slow request goes out while things are fine
    fail(breaker, 3)  # others fail meanwhile and open the breaker
    breaker.success()  # then the slow one answers
    assert breaker.state == "open"
    clock.now += 5
    with pytest.raises(BreakerOpen) as caught:
        breaker.before_request()
    assert caught.value.remaining == pytest.approx(25.0)

"""How long a provider asked us to wait, from each header vendors use for it.

The delay becomes the activity's ``next_retry_delay``, so a wrong reading means
hammering a rate-limited API or idling long after it recovered.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.providers.http import retry_delay

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        # Retry-After: delta-seconds, as RFC 9110 has it, and the fractions some APIs send
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"RETRY-AFTER": "-3"}, 0.0),
        # Retry-After: an HTTP date, counted from now; a date already past means now
        ({"Retry-After": "Sat, 05 Dec 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Sat, 05 Dec 2026 11:59:00 GMT"}, 0.0),
        # retry-after-ms (OpenAI, Anthropic, LLMock) is exact, so it wins over the rounded one
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after-ms": "not a number", "retry-after": "2"}, 2.0),
        # OpenAI's x-ratelimit-reset-*: Go durations; the longest wait is the one that holds
        ({"x-ratelimit-reset-requests": "250ms"}, 0.25),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
        # Anthropic's anthropic-ratelimit-*-reset: RFC 3339 timestamps
        ({"anthropic-ratelimit-requests-reset": "2026-12-05T12:00:10Z"}, 10.0),
        (
            {
                "anthropic-ratelimit-requests-reset": "2026-12-05T12:00:10Z",
                "anthropic-ratelimit-tokens-reset": "2026-12-05T12:01:00Z",
            },
            60.0,
        ),
        # Retry-After beats the reset headers, which describe a quota, not this request
        ({"retry-after": "3", "x-ratelimit-reset-tokens": "6m0s"}, 3.0),
        # an unreadable Retry-After does not hide a readable reset header
        ({"retry-after": "soon", "x-ratelimit-reset-requests": "2s"}, 2.0),
    ],
)
def test_delay_from_headers(headers: dict[str, str], seconds: float) -> None:
    assert retry_delay(headers, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "application/json", "x-request-id": "abc"},
        {"retry-after": "soon"},
        {"x-ratelimit-reset-requests": "in a while"},
        {"x-ratelimit-remaining-requests": "0"},
    ],
)
def test_no_delay_when_no_header_says_one(headers: dict[str, str]) -> None:
    assert retry_delay(headers, NOW) is None


def test_dates_count_from_the_current_time_by_default() -> None:
    soon = datetime.now(UTC).replace(microsecond=0)
    later = soon.timestamp() + 120
    header = datetime.fromtimestamp(later, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    delay = retry_delay({"Retry-After": header})
    assert delay is not None and 110 < delay <= 120

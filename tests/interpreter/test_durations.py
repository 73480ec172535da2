"""Durations as users write them."""

from __future__ import annotations

import pytest

from interpreter.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("45", 45.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("2d", 172800.0),
        (" 1m 30s ", 90.0),
        ("1.5h", 5400.0),
        ("10S", 10.0),
    ],
)
def test_accepted_forms(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "must be greater than zero"),
        (-5, "must be greater than zero"),
        ("-5s", "is negative"),
        ("", "empty duration"),
        ("5 minutes", "cannot read duration"),
        ("s", "cannot read duration"),
        ("1h30", "cannot read duration"),
        (True, "must be a number of seconds"),
        ([5], "must be a number of seconds"),
    ],
)
def test_rejected_forms_say_why(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (1, "1s"),
        (90, "1m30s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (3661.5, "1h1m1.5s"),
    ],
)
def test_format_is_short_and_reads_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds

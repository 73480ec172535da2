"""Durations as users write them (``30s``, ``5m``, ``1h30m``, ``250ms``, plain seconds)."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
MAX_SECONDS = 10 * 365 * 86400.0
"""Ten years: longer than any timeout, retry interval or run a workflow needs."""
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d)\s*)+$|^\s*\d+(\.\d+)?\s*$"


def parse_duration(value: Any) -> float:
    """Return seconds for ``value``; raise ``ValueError`` with a usable message otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '30s'")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"duration {value} is too long; at most ten years") from None
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not text:
            raise ValueError("empty duration; write e.g. '30s', '5m' or '1h'")
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or pos == 0:
                if text.startswith("-"):
                    raise ValueError(f"duration {value!r} is negative; it must be > 0") from None
                raise ValueError(
                    f"cannot read duration {value!r}; write e.g. '30s', '5m', '1h30m' or '250ms'"
                ) from None
    else:
        raise ValueError("a duration must be a number of seconds or a string like '30s'")
    if math.isnan(seconds):
        raise ValueError("a duration cannot be NaN; write e.g. '30s'")
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be greater than zero")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {value!r} is too long; at most ten years (3650d)")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form, for summaries and docs (``90`` → ``1m30s``)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    rest = seconds - int(seconds) + whole
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": "Seconds, or a string such as '30s', '5m', '1h30m', '250ms'.",
        }
    ),
]
"""Seconds as a float, parsed from any form :func:`parse_duration` accepts."""

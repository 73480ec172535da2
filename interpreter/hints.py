"""Did-you-mean hints for names a user got slightly wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["nearest"]


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """A did-you-mean hint, or ``None`` if nothing is close."""
    match = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None

"""The base of every payload that crosses the workflow/activity boundary.

Unlike the language models, payloads ignore fields they do not know, so workers
of two versions can share a task queue during a rolling deploy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Payload"]


class Payload(BaseModel):
    """Tolerant of unknown fields; evolve only by adding fields with defaults."""

    # built on first use, not at import: `validate` and `--help` never use a payload
    model_config = ConfigDict(extra="ignore", defer_build=True)

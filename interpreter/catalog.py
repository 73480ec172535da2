"""Payloads of the `resolve_workflow` activity: a catalog name in, a pinned definition out.

The definition a run uses is an activity result, so it is stored in the run's
history: editing the file later never changes a run in flight or its replay.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from interpreter.models import WorkflowDefinition
from interpreter.payload import Payload

__all__ = ["ResolveRequest", "ResolvedWorkflow"]


class ResolveRequest(Payload):
    name: str


class ResolvedWorkflow(Payload):
    definition: WorkflowDefinition
    source: str
    library: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The workflows its `workflow` steps name, read with it (ref → definition)."""

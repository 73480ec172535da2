"""Start `DagWorkflow` runs the way ``temporal workflow start`` would, and read how they ended.

Every test that drives the workflow through a Temporal client uses these, so a
run's id, result type and time limit are decided in one place.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from interpreter.contract import WORKFLOW_TYPE, RunInput, RunResult

__all__ = ["Run", "failure_of", "outcome", "run_to_end", "start_run"]

Run = WorkflowHandle[Any, RunResult]

RESULT_TIMEOUT = 60.0
"""Seconds a test waits for a run's result; well under the per-test timeout."""


def _name(payload: Any) -> str:
    """The workflow's name for the run's id, if the payload has a plausible one."""
    if not isinstance(payload, Mapping):
        return "run"
    definition = payload.get("definition")
    name = definition.get("name") if isinstance(definition, Mapping) else payload.get("workflow")
    # payloads may be deliberately broken (fuzz tests): only a short text makes an id
    return name if isinstance(name, str) and 0 < len(name) <= 64 else "run"


async def start_run(
    client: Client, task_queue: str, payload: Any, *, workflow_id: str | None = None
) -> Run:
    """Start a run of ``payload`` (``{"definition"|"workflow": ..., "inputs": ...}``, or
    anything else a test wants the workflow to reject).

    The id defaults to the workflow's name plus a random suffix, so runs are
    easy to find in the Web UI of a kept dev server. Tests assert on every step's
    record, so a well-formed start input asks for them in the result (``records``)
    unless it says otherwise; tests of the compact default say ``"records": False``.
    """
    if isinstance(payload, RunInput) and "records" not in payload.model_fields_set:
        payload = payload.model_copy(update={"records": True})
    elif isinstance(payload, Mapping) and ({"definition", "workflow"} & set(payload)):
        payload = {"records": True, **payload}
    return await client.start_workflow(
        WORKFLOW_TYPE,
        payload,
        id=workflow_id or f"{_name(payload)}-{uuid.uuid4().hex[:10]}",
        task_queue=task_queue,
        result_type=RunResult,
    )


async def run_to_end(client: Client, task_queue: str, payload: Any) -> RunResult:
    """Start a run and return its result; a failed run raises ``WorkflowFailureError``."""
    handle = await start_run(client, task_queue, payload)
    return await asyncio.wait_for(handle.result(), timeout=RESULT_TIMEOUT)


async def outcome(handle: Run) -> tuple[RunResult | None, str | None]:
    """``(result, None)`` for a run that completed, ``(None, message)`` for one that failed.

    The message is the run's own failure (an ``ApplicationError``), the text a
    user sees in ``temporal workflow describe``.
    """
    try:
        return await asyncio.wait_for(handle.result(), timeout=RESULT_TIMEOUT), None
    except WorkflowFailureError as exc:
        cause = exc.cause
        assert isinstance(cause, ApplicationError), repr(cause)
        return None, cause.message


async def failure_of(client: Client, task_queue: str, payload: Any) -> str:
    """Start a run that must fail; return its failure message (the test fails if it completes)."""
    handle = await start_run(client, task_queue, payload)
    result, error = await outcome(handle)
    if error is None:
        pytest.fail(f"run {handle.id} completed but should have failed: {result}")
    return error

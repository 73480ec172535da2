"""`approve` and `signal`: answer a run that waits for a person or a named event.

`approve` goes through the ``approve`` Update (not the signal of the same name),
so the workflow's validator checks the decision before it is accepted: an unknown
step, a step that is not waiting, or a second decision is reported at once and
exits 1, instead of being dropped silently inside the run. `signal` sends a
named signal, which a `wait` step takes as its output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from interpreter.errors import OrchestratorError
from llm_orchestrator.connect import connect
from llm_orchestrator.exits import ExitCode, SetupError
from llm_orchestrator.options import ApproveOptions, SignalOptions
from llm_orchestrator.request import parse_value
from llm_orchestrator.sdk.client import Orchestrator

__all__ = ["approve", "signal"]


def approve(opts: ApproveOptions) -> int:
    """Decide an `approval` step through the Update; exit 1 if the run cannot take it."""
    data = _data(opts.data)

    async def go(client: Client) -> int:
        try:
            answer = await Orchestrator(client).approve(
                opts.workflow_id,
                opts.step,
                approved=not opts.reject,
                by=opts.by,
                comment=opts.comment,
                data=data,
                run_id=opts.run_id,
            )
        except RPCError as exc:
            raise await _plain(client, opts.workflow_id, opts.run_id, exc) from None
        print(f"run {opts.workflow_id}: {answer}", flush=True)
        return ExitCode.OK

    return _with_client(opts, go)


def signal(opts: SignalOptions) -> int:
    """Send a named signal (payload ``--data``) to a run; exit 1 if the run is not running."""
    payload = _data(opts.data)

    async def go(client: Client) -> int:
        try:
            await Orchestrator(client).signal(
                opts.workflow_id, opts.name, payload, run_id=opts.run_id
            )
        except RPCError as exc:
            raise await _plain(client, opts.workflow_id, opts.run_id, exc) from None
        print(f"signal `{opts.name}` sent to {opts.workflow_id}", flush=True)
        return ExitCode.OK

    return _with_client(opts, go)


def _data(text: str | None) -> Any:
    return None if text is None else parse_value(text, f"--data {text}")


def _with_client(
    opts: ApproveOptions | SignalOptions, go: Callable[[Client], Awaitable[int]]
) -> int:
    async def main() -> int:
        return await go(await connect(opts.connection))

    return asyncio.run(main())


async def _plain(
    client: Client, workflow_id: str, run_id: str | None, exc: RPCError
) -> OrchestratorError:
    """One line for an RPC error about the run: unknown id, already closed, server away."""
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return SetupError(f"Temporal did not answer: {exc.message}")
    try:
        description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError:
        return OrchestratorError(f"no run with id {workflow_id}")
    if description.status != WorkflowExecutionStatus.RUNNING:
        state = description.status.name.lower() if description.status else "closed"
        return OrchestratorError(f"run {workflow_id} is already {state}")
    return OrchestratorError(f"run {workflow_id}: {exc.message}")

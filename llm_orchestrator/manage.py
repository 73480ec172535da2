"""`status`, `result`, `cancel`, `list`: look after runs that are already started.

Everything here reads Temporal: ``describe`` and visibility for the state, the
``progress`` query for the steps. A query needs a worker (a closed run is
replayed to answer it); without one, `status` says so and falls back to the
result for a completed run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from interpreter.contract import (
    DEFAULT_TASK_QUEUE,
    QUERY_PROGRESS,
    WORKFLOW_TYPE,
    Progress,
    RunResult,
)
from interpreter.errors import OrchestratorError
from llm_orchestrator.connect import connect
from llm_orchestrator.exits import ExitCode, SetupError
from llm_orchestrator.options import STATUS_NAMES, ConnectionOptions, ListOptions, RunRefOptions
from llm_orchestrator.progress import (
    Reporter,
    RunStatus,
    print_json,
    print_runs,
    print_status,
    records_of,
)
from llm_orchestrator.runs import cli_command, follow, web_ui_url
from llm_orchestrator.sdk.client import Orchestrator

__all__ = ["cancel", "list_runs", "result", "status"]

_QUERY_TIMEOUT = timedelta(seconds=5)
"""A worker that polls but cannot answer (just stopped) must not stall `status` long."""


def _state(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"


def _time(value: datetime | None) -> str | None:
    return value.astimezone().isoformat(timespec="seconds") if value else None


def _with_client(connection: ConnectionOptions, go: Callable[[Client], Awaitable[int]]) -> int:
    async def main() -> int:
        client = await connect(connection)
        return await go(client)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def _about(workflow_id: str) -> AsyncIterator[None]:
    """Turn Temporal's RPC errors about one run into plain messages (and exit codes)."""
    try:
        yield
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise OrchestratorError(f"no run with id {workflow_id}") from None
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise SetupError(f"Temporal did not answer: {exc.message}") from None
        raise OrchestratorError(f"run {workflow_id}: {exc.message}") from None


def _handle(client: Client, opts: RunRefOptions) -> WorkflowHandle[Any, RunResult]:
    return client.get_workflow_handle(opts.workflow_id, run_id=opts.run_id, result_type=RunResult)


# --- status -------------------------------------------------------------------------------


def status(opts: RunRefOptions) -> int:
    """Print a run's state, steps, usage and what it waits for; exit 0 if it was found."""

    async def go(client: Client) -> int:
        handle = _handle(client, opts)
        async with _about(opts.workflow_id):
            found = await _status(client, handle, opts.connection)
        if opts.json:
            print_json(found.as_dict())
        else:
            print_status(found)
        return ExitCode.OK

    return _with_client(opts.connection, go)


async def _status(
    client: Client, handle: WorkflowHandle[Any, RunResult], connection: ConnectionOptions
) -> RunStatus:
    description = await handle.describe()
    state = _state(description.status)
    running = description.status == WorkflowExecutionStatus.RUNNING
    pollers = await _has_pollers(client, description.task_queue)
    progress: Progress | None = None
    note: str | None = None
    if pollers:
        with contextlib.suppress(RPCError):  # a worker that cannot answer: fall back below
            progress = await handle.query(
                QUERY_PROGRESS, result_type=Progress, rpc_timeout=_QUERY_TIMEOUT
            )
    if progress is None and description.status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result()
        progress = Progress(
            workflow=result.workflow,
            version=result.version,
            status="completed",
            steps=records_of(result),
            usage=result.usage,
        )
    elif progress is None:
        worker = "llm-orchestrator worker"
        if description.task_queue != DEFAULT_TASK_QUEUE:
            worker += f" --task-queue {description.task_queue}"
        note = (
            f"no worker polls task queue `{description.task_queue}`, so step details are "
            f"unavailable; start one with `{worker}`"
        )
    waiting: list[str] = []
    if running:
        if not pollers:
            waiting.append(f"a worker on task queue `{description.task_queue}`")
        if progress is not None:
            for outside in progress.waiting:
                what = (
                    "a decision (the `approve` Update or signal)"
                    if outside.kind == "approval"
                    else f"signal `{outside.name}`"
                )
                text = f"{what} for step {outside.step}"
                text += f": {outside.message}" if outside.message else ""
                text += f" (times out after {outside.timeout_s:g} s)" if outside.timeout_s else ""
                waiting.append(text)
            answered_outside = {outside.step for outside in progress.waiting}
            for record in progress.steps.values():
                if record.status == "running" and record.id not in answered_outside:
                    attempt = f", attempt {record.attempts}" if record.attempts else ""
                    waiting.append(f"step {record.id} ({record.type}{attempt})")
        for pending in description.raw_description.pending_activities:
            if pending.HasField("last_failure") and pending.last_failure.message:
                waiting.append(
                    f"retry of {pending.activity_type.name} (attempt {pending.attempt}; "
                    f"last failure: {pending.last_failure.message})"
                )
    return RunStatus(
        workflow_id=description.id,
        run_id=description.run_id,
        state=state,
        task_queue=description.task_queue,
        started_at=_time(description.start_time),
        closed_at=_time(description.close_time),
        ui_url=web_ui_url(client, connection, description.id, description.run_id),
        progress=progress,
        waiting_for=tuple(waiting),
        note=note,
        rerun_of=(await description.memo()).get("rerun_of"),  # llm_orchestrator.rerun
    )


async def _has_pollers(client: Client, task_queue: str) -> bool:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers) > 0


# --- result ---------------------------------------------------------------------------------


def result(opts: RunRefOptions) -> int:
    """Wait for a run and print its result like `run` does; 1 if it failed."""

    async def go(client: Client) -> int:
        handle = _handle(client, opts)
        async with _about(opts.workflow_id):
            # an unknown id is an error now, not a wait forever
            description = await handle.describe()
            reporter = Reporter()
            running = description.status == WorkflowExecutionStatus.RUNNING
            if running and not await _has_pollers(client, description.task_queue):
                reporter.say(f"waiting: no worker polls task queue `{description.task_queue}` yet")
            return await follow(handle, reporter, json_output=opts.json)

    try:
        return _with_client(opts.connection, go)
    except KeyboardInterrupt:
        again = cli_command("result", opts.workflow_id, connection=opts.connection)
        Reporter().tell(
            f"stopped waiting; run {opts.workflow_id} goes on. Re-attach with `{again}`"
        )
        return ExitCode.INTERRUPTED


# --- cancel ---------------------------------------------------------------------------------


def cancel(opts: RunRefOptions) -> int:
    """Ask Temporal to cancel a run; its running steps are cancelled, the run ends `canceled`."""

    async def go(client: Client) -> int:
        handle = _handle(client, opts)
        async with _about(opts.workflow_id):
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                raise OrchestratorError(
                    f"run {opts.workflow_id} is already {_state(description.status)}"
                )
            await Orchestrator(client).cancel(opts.workflow_id, opts.run_id)
        print(f"cancellation requested for {opts.workflow_id}", flush=True)
        return ExitCode.OK

    return _with_client(opts.connection, go)


# --- list -----------------------------------------------------------------------------------


def list_runs(opts: ListOptions) -> int:
    """Recent `DagWorkflow` runs, newest first, from Temporal visibility."""

    async def go(client: Client) -> int:
        query = f"WorkflowType = '{WORKFLOW_TYPE}'"
        if opts.status:
            query += f" AND ExecutionStatus = '{STATUS_NAMES[opts.status]}'"
        rows: list[dict[str, Any]] = []
        try:
            async for execution in client.list_workflows(query, limit=opts.limit):
                rows.append(
                    {
                        "workflow_id": execution.id,
                        "run_id": execution.run_id,
                        "status": _state(execution.status),
                        "started_at": _time(execution.start_time),
                        "closed_at": _time(execution.close_time),
                        "task_queue": execution.task_queue,
                        "ui_url": web_ui_url(
                            client, opts.connection, execution.id, execution.run_id
                        ),
                    }
                )
        except RPCError as exc:
            raise OrchestratorError(f"listing runs: {exc.message}") from None
        if opts.json:
            print_json(rows)
        else:
            print_runs(rows)
        return ExitCode.OK

    return _with_client(opts.connection, go)

"""`watch`: attach to a run and print its live tokens as they arrive, then its result.

A running run's streamed steps show their text as `run` shows it; a closed run
prints the tokens it retained (read through a worker, which replays the run), then
its result. Tokens go to stdout (they are what `watch` is for), or to stderr with
``--json``, which keeps stdout to the result document; step lines go to stderr.
"""

from __future__ import annotations

import sys

from temporalio.client import Client, WorkflowExecutionStatus

from interpreter.contract import RunResult
from llm_orchestrator.exits import ExitCode
from llm_orchestrator.manage import _about, _has_pollers, _with_client
from llm_orchestrator.options import RunRefOptions
from llm_orchestrator.progress import Reporter
from llm_orchestrator.runs import cli_command, follow

__all__ = ["watch"]


def watch(opts: RunRefOptions) -> int:
    """Follow a run (running or closed): tokens, step lines, then the result as `result`
    prints it; 1 if the run failed."""

    async def go(client: Client) -> int:
        handle = client.get_workflow_handle(
            opts.workflow_id, run_id=opts.run_id, result_type=RunResult
        )
        async with _about(opts.workflow_id):
            description = await handle.describe()  # an unknown id fails now
            reporter = Reporter(token_out=sys.stderr if opts.json else sys.stdout)
            if not await _has_pollers(client, description.task_queue):
                state = (
                    "runs"
                    if description.status == WorkflowExecutionStatus.RUNNING
                    else "has closed"
                )
                reporter.say(
                    f"waiting: the run {state} but no worker polls task queue "
                    f"`{description.task_queue}`; its tokens are read through a worker"
                )
            return await follow(handle, reporter, json_output=opts.json, tokens=client)

    try:
        return _with_client(opts.connection, go)
    except KeyboardInterrupt:
        again = cli_command("watch", opts.workflow_id, connection=opts.connection)
        Reporter().tell(f"stopped watching; run {opts.workflow_id} goes on. Re-attach: `{again}`")
        return ExitCode.INTERRUPTED

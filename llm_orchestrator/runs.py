"""`start` and `run`: start a `DagWorkflow`; `run` also serves it and waits for the result.

`run` with nothing configured starts the embedded dev server and an in-process
worker, and stops both when it ends. Ctrl-C (or SIGTERM) stops following, not
the run: the in-process worker gives steps in flight
:data:`~llm_orchestrator.worker.GRACEFUL_SHUTDOWN` to finish (a second Ctrl-C
stops at once), and the message says how to re-attach.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from activities import ActivitySettings, WorkerConfig
from activities.telemetry import current_step
from interpreter.contract import DEFAULT_TASK_QUEUE, QUERY_PROGRESS, Progress, RunInput, RunResult
from interpreter.errors import WorkflowDefinitionError
from interpreter.lint import unknown_providers
from interpreter.models import WorkflowDefinition
from interpreter.source import parse
from llm_orchestrator.connect import connect, server_configured, untraced, wait_until_serving
from llm_orchestrator.devserver import DevServer, port_open, state_dir
from llm_orchestrator.exits import ExitCode
from llm_orchestrator.live_tokens import print_tokens, streams_tokens
from llm_orchestrator.observability import Observability
from llm_orchestrator.options import ConnectionOptions, RunOptions, StartOptions
from llm_orchestrator.process import observe
from llm_orchestrator.progress import (
    Reporter,
    failure_text,
    print_json,
    print_outputs,
    records_of,
    run_summary,
)
from llm_orchestrator.request import names_a_file, run_input
from llm_orchestrator.sdk.client import Orchestrator
from llm_orchestrator.webui import run_url, ui_base
from llm_orchestrator.worker import GRACEFUL_SHUTDOWN, run_worker
from llm_orchestrator.worker_setup import activity_settings, worker_config

__all__ = ["cli_command", "run", "start", "web_ui_url"]


def web_ui_url(client: Client, connection: ConnectionOptions, workflow_id: str,
               run_id: str | None) -> str | None:  # fmt: skip
    """The run's page in the Web UI, when the UI's address is known."""
    base = ui_base(connection.ui_url, client.service_client.config.target_host)
    return run_url(base, client.namespace, workflow_id, run_id) if base else None


def cli_command(name: str, *args: str, connection: ConnectionOptions) -> str:
    """The `llm-orchestrator ...` line that reaches the same server as this one did."""
    return shlex.join(["llm-orchestrator", name, *args, *connection.flags()])


# --- start ------------------------------------------------------------------------------


def start(opts: StartOptions) -> int:
    """Start a run, print its workflow id, run id and Web UI URL, and return at once."""
    request, definition = run_input(
        opts.workflow, opts.inputs, offline=opts.offline, mocks=opts.mocks
    )
    obs = observe(opts.logs, "llm-orchestrator-cli")

    async def go() -> int:
        client = await connect(opts.connection, runtime=obs.runtime, interceptors=obs.interceptors)
        handle = (
            await Orchestrator(client, task_queue=opts.connection.task_queue).start_request(
                request, definition, id=opts.workflow_id
            )
        ).handle
        url = web_ui_url(client, opts.connection, handle.id, handle.result_run_id)
        if opts.json:
            print_json(
                {
                    "workflow_id": handle.id,
                    "run_id": handle.result_run_id,
                    "namespace": client.namespace,
                    "ui_url": url,
                }
            )
        else:
            print(f"workflow id  {handle.id}")
            print(f"run id       {handle.result_run_id}")
            unknown = "unknown for this server (set --ui-url or LLM_ORCHESTRATOR_UI_URL)"
            print(f"Web UI       {url or unknown}")
            print(f"result       {cli_command('result', handle.id, connection=opts.connection)}",
                  flush=True)  # fmt: skip
        return ExitCode.OK

    try:
        return asyncio.run(go())
    finally:
        obs.shutdown()


# --- run --------------------------------------------------------------------------------


@dataclass
class _Session:
    """What an interruption message needs to know about how far `run` got."""

    server: DevServer | None = None
    handle: WorkflowHandle[Any, RunResult] | None = None
    worker_started: bool = False


def run(opts: RunOptions) -> int:
    """Start a run, serve it with an in-process worker, print its result; 130 on Ctrl-C."""
    settings: ActivitySettings | None = None
    config: WorkerConfig | None = None
    if not opts.no_worker:
        # a catalog is needed only to resolve a name; a file's definition travels with the run
        settings = activity_settings(
            opts.catalog, require_catalog=not names_a_file(opts.start.workflow)
        )
        config = worker_config(opts.config)
    # the in-process worker's catalog is ours to read: a name is resolved here, not by
    # an activity of the run
    request, definition = run_input(
        opts.start.workflow,
        opts.start.inputs,
        offline=opts.start.offline,
        mocks=opts.start.mocks,
        catalog=settings,
    )
    if config is not None and definition is not None and not opts.start.offline:
        _check_providers(opts.start.workflow, definition, config)
    obs = observe(opts.start.logs, "llm-orchestrator")
    reporter = Reporter(quiet=opts.quiet)
    if opts.start.logs.log_level != "DEBUG":
        logging.getLogger("temporalio.activity").addFilter(_AttemptLines(reporter))
    session = _Session()
    connection = opts.start.connection
    if not server_configured(connection) and not port_open("127.0.0.1", 7233):
        log = state_dir() / "temporal-server.log"
        state_dir().mkdir(parents=True, exist_ok=True)
        reporter.say(
            "no Temporal server configured or running: starting the embedded dev server "
            f"(127.0.0.1:7233, Web UI http://127.0.0.1:8233, log {log})"
        )
        session.server = DevServer().start(log=log)
    try:
        return asyncio.run(
            _run(opts, request, definition, settings, config, obs, reporter, session)
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        _interrupted(opts, session)
        return ExitCode.INTERRUPTED
    finally:
        if session.server is not None:
            session.server.stop()
        obs.shutdown()


def _check_providers(workflow: str, definition: WorkflowDefinition, config: WorkerConfig) -> None:
    """The in-process worker is the one that runs the file: a provider it does not have
    (a step's, a fallback entry's) is a located error now, not a failure mid-run."""
    if not names_a_file(workflow):
        return
    raw = parse(Path(workflow).read_text(encoding="utf-8"), workflow)
    known = {*config.providers, "offline", "local"}
    problems = unknown_providers(definition, raw, workflow, known)
    if problems:
        raise WorkflowDefinitionError(problems)


class _AttemptLines(logging.Filter):
    """One line per failed attempt of the in-process worker, instead of the SDK's ~20-line
    traceback (which ``--log-level DEBUG`` keeps): ``↻ boom attempt 1 failed: cause``."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__()
        self._reporter = reporter

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Completing activity as failed":
            return True
        error = record.exc_info[1] if record.exc_info else None
        cause = str(error) if isinstance(error, ApplicationError) else repr(error)
        step = current_step()  # set by the worker's step interceptor for this attempt
        who = (
            step.step_id
            if step
            else getattr(record, "temporal_activity", {}).get("activity_type", "a step")
        )
        attempt = f" attempt {step.attempt}" if step and step.attempt else ""
        self._reporter.say(f"↻ {who}{attempt} failed: {cause}")
        return False


async def _run(
    opts: RunOptions,
    request: RunInput,
    definition: WorkflowDefinition | None,
    settings: ActivitySettings | None,
    config: WorkerConfig | None,
    obs: Observability,
    reporter: Reporter,
    session: _Session,
) -> int:
    # SIGTERM (a supervisor, `timeout`) ends `run` the way Ctrl-C does
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    connection = opts.start.connection
    if session.server is not None:
        connection = replace(connection, address=session.server.address)
    client = await connect(
        connection,
        runtime=obs.runtime,
        interceptors=obs.interceptors,
        wait=30.0 if session.server is not None else 0.0,
        retry_every=0.02,  # only a server we just started is retried: it is seconds away
    )
    if session.server is not None:
        await wait_until_serving(client)
    if obs.metrics_address:
        reporter.say(f"metrics on http://{obs.metrics_address}/metrics")
    stop = asyncio.Event()
    worker_task: asyncio.Task[None] | None = None
    try:
        if settings is not None:
            ready = asyncio.Event()
            worker_task = asyncio.create_task(
                run_worker(
                    client,
                    settings,
                    config=config,
                    task_queue=connection.task_queue,
                    stop=stop,
                    ready=ready,
                )
            )
            session.worker_started = True
            # registered with the client before the start, so that the start can be eager
            await _until_ready(ready.wait(), worker_task)
            reporter.say(f"in-process worker on task queue `{connection.task_queue}`")
        orchestrator = Orchestrator(client, task_queue=connection.task_queue)
        handle = (
            await orchestrator.start_request(
                request, definition, id=opts.start.workflow_id, eager=worker_task is not None
            )
        ).handle
        session.handle = handle
        url = web_ui_url(client, connection, handle.id, handle.result_run_id)
        reporter.say(
            f"started {handle.id} (run {handle.result_run_id})" + (f" · {url}" if url else "")
        )
        # the start is traced (the run's one trace begins here); following it is not
        watched = untraced(client).get_workflow_handle(
            handle.id, run_id=handle.result_run_id, result_type=RunResult
        )
        # a name the worker resolves may stream: subscribe; a definition only if it does
        streamed = request.definition is None or streams_tokens(request)
        return await follow(
            watched,
            reporter,
            json_output=opts.start.json,
            worker=worker_task,
            tokens=untraced(client) if streamed and not opts.quiet else None,
        )
    finally:
        if worker_task is not None:
            if not worker_task.done() and _cancelling():
                reporter.say(
                    "stopping the in-process worker: steps in flight get up to "
                    f"{GRACEFUL_SHUTDOWN.total_seconds():g} s to finish (Ctrl-C again to stop now)"
                )
            stop.set()
            await asyncio.gather(worker_task, return_exceptions=True)


async def _until_ready(ready: Awaitable[Any], worker: asyncio.Task[None]) -> None:
    """Wait for ``ready``; a worker that stops first (bad settings, a lost connection)
    raises its error here instead of leaving the wait hanging."""
    waiting = asyncio.ensure_future(ready)
    try:
        await asyncio.wait({waiting, worker}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if worker.done():
        worker.result()
        raise RuntimeError("the in-process worker stopped before it started")


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def follow(
    handle: WorkflowHandle[Any, RunResult],
    reporter: Reporter,
    *,
    json_output: bool,
    worker: asyncio.Task[None] | None = None,
    tokens: Client | None = None,
) -> int:
    """Print step lines as the run goes, then its result; the exit code of the run.

    With ``tokens`` (a client), the live tokens of its streamed steps are printed as
    they arrive too, all of them before the result."""
    result_task = asyncio.ensure_future(handle.result())
    token_task = (
        asyncio.ensure_future(print_tokens(tokens, handle.id, reporter))
        if tokens is not None
        else None
    )
    try:
        while not result_task.done():
            await asyncio.wait(
                {result_task, *([worker] if worker else [])},
                timeout=0.25,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if worker is not None and worker.done() and not result_task.done():
                worker.result()  # the in-process worker died: raise its error
                raise RuntimeError("the in-process worker stopped unexpectedly")
            await _progress(handle, reporter)
        if token_task is not None:  # the last batches, read from the closed run
            await asyncio.wait({token_task}, timeout=_TOKENS_DRAIN.total_seconds())
        try:
            result = result_task.result()
        except WorkflowFailureError as exc:
            if worker is not None:  # it answers at once; the failed step's line comes first
                await _progress(handle, reporter)
            if isinstance(exc.cause, CancelledError):
                reporter.tell(f"run {handle.id} was cancelled")
            else:
                reporter.tell(f"run {handle.id} failed: {failure_text(exc)}")
            return ExitCode.FAILED
    finally:
        result_task.cancel()
        if token_task is not None:
            token_task.cancel()
    # the result carries each step's status; its full record comes from the query
    final = None if result.steps else await _query(handle)
    records = final.steps if final is not None and final.steps else records_of(result)
    reporter.steps(Progress(steps=records, status="completed"))
    if json_output:
        document = result.model_dump(mode="json")
        document["steps"] = {k: r.model_dump(mode="json") for k, r in records.items()}
        print_json(document)
    else:
        print_outputs(result.outputs)
    reporter.say(run_summary(result))
    return ExitCode.OK


async def _progress(handle: WorkflowHandle[Any, RunResult], reporter: Reporter) -> None:
    progress = await _query(handle)
    if progress is not None:
        reporter.steps(progress)


async def _query(handle: WorkflowHandle[Any, RunResult]) -> Progress | None:
    """The ``progress`` query's answer, or ``None`` if no worker gave one in time."""
    try:
        # short: without a worker a query waits for one, and the result must not wait on it
        progress: Progress = await handle.query(
            QUERY_PROGRESS, result_type=Progress, rpc_timeout=_QUERY_TIMEOUT
        )
    except Exception:  # the query can race the run's start or end; progress is best effort
        return None
    return progress


_QUERY_TIMEOUT = timedelta(seconds=2)
_TOKENS_DRAIN = timedelta(seconds=10)
"""How long the result waits for the tokens still to be read from the closed run."""


def _interrupted(opts: RunOptions, session: _Session) -> None:
    """Say what became of the run and the exact commands that pick it up again."""
    connection = opts.start.connection
    say = Reporter().tell  # even with --quiet: this is the answer to the Ctrl-C
    if session.handle is None:
        say("interrupted before the run started; nothing is left running")
        return
    run_id = session.handle.id
    result = cli_command("result", run_id, connection=connection)
    if session.server is not None:
        worker = ["llm-orchestrator", "worker"]
        if opts.catalog:
            worker += ["--catalog", str(opts.catalog)]
        if connection.task_queue != DEFAULT_TASK_QUEUE:
            worker += ["--task-queue", connection.task_queue]
        say(
            f"interrupted: run {run_id} is paused with the embedded Temporal server, which "
            "this command started and has now stopped (its state is kept in "
            f"{state_dir()}). To resume it: `llm-orchestrator server` in one terminal, "
            f"`{shlex.join(worker)}` in another, then `{result}`"
        )
    elif session.worker_started:
        say(
            f"interrupted: run {run_id} goes on in Temporal and continues when a worker serves "
            f"task queue `{connection.task_queue}` (the in-process one has stopped). "
            f"Re-attach with `{result}`"
        )
    else:
        say(f"interrupted: run {run_id} goes on in Temporal. Re-attach with `{result}`")

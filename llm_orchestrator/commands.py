"""Sub-commands that talk to Temporal: run, start, worker, server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, FailureError

from activities import ActivitySettings
from activities.providers.config import load_worker_config
from interpreter.contract import (
    DEFAULT_TASK_QUEUE,
    QUERY_PROGRESS,
    WORKFLOW_TYPE,
    Progress,
    RunInput,
    RunResult,
)
from interpreter.diagram import to_mermaid
from interpreter.errors import OrchestratorError
from interpreter.inputs import resolve_inputs
from interpreter.loader import load_file
from interpreter.models import WorkflowDefinition
from llm_orchestrator import observability
from llm_orchestrator.connect import address_configured, connect
from llm_orchestrator.devserver import DevServer, port_open, state_dir
from llm_orchestrator.logs import configure_logging
from llm_orchestrator.worker import run_worker

__all__ = ["register"]

log = logging.getLogger(__name__)


def _observability_flags(p: argparse.ArgumentParser, *, metrics: bool, level: str) -> None:
    """--metrics-bind, --log-format, --log-level (defaults from LLM_ORCHESTRATOR_* variables)."""
    env = os.environ
    if metrics:
        p.add_argument(
            "--metrics-bind",
            metavar="HOST:PORT",
            default=env.get("LLM_ORCHESTRATOR_METRICS_BIND") or None,
            help="serve Prometheus metrics (Temporal SDK and step metrics) on "
            "http://HOST:PORT/metrics, e.g. 127.0.0.1:9464",
        )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=env.get("LLM_ORCHESTRATOR_LOG_FORMAT") or "text",
        help="log lines as text or as JSON objects (with workflow, run and step ids)",
    )
    p.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default=(env.get("LLM_ORCHESTRATOR_LOG_LEVEL") or level).upper(),
        help=f"default {level}",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the Temporal-facing sub-commands to the CLI parser."""
    for name, help_text, func in (
        ("run", "start a run and wait for its result (starts a dev server if needed)", _cmd_run),
        ("start", "start a run and print its workflow id without waiting", _cmd_start),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "workflow",
            metavar="FILE_OR_NAME",
            help="a workflow file, or the name of one in the worker's catalog",
        )
        p.add_argument(
            "-i",
            "--input",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an input (VALUE parsed as JSON when it can be); or a JSON object, "
            "or @file.json; repeatable",
        )
        p.add_argument(
            "--offline",
            action="store_true",
            help="answer every model call with the offline provider (no keys needed)",
        )
        p.add_argument("--id", help="workflow id (default: <name>-<random>)")
        p.add_argument("--task-queue", default=DEFAULT_TASK_QUEUE)
        p.add_argument("--address", help="Temporal address (default: TEMPORAL_ADDRESS / profile)")
        if name == "run":
            p.add_argument(
                "--no-worker",
                action="store_true",
                help="do not start an in-process worker; rely on running workers",
            )
            p.add_argument("--catalog", default=None, help="catalog dir of the in-process worker")
            p.add_argument(
                "--config",
                default=None,
                help="worker config file (providers, limits, prices) for the "
                "in-process worker; default LLM_ORCHESTRATOR_CONFIG",
            )
            p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        _observability_flags(p, metrics=name == "run", level="WARNING")
        p.set_defaults(func=func)

    w = sub.add_parser("worker", help="run a worker (same as `python worker.py`)")
    w.add_argument("--task-queue", default=DEFAULT_TASK_QUEUE)
    w.add_argument(
        "--catalog",
        default=None,
        help='directory of workflow files for {"workflow": NAME} (default examples/)',
    )
    w.add_argument("--max-concurrent-activities", type=int, default=100)
    w.add_argument("--max-cached-workflows", type=int, default=1000)
    w.add_argument("--address", help="Temporal address (default: TEMPORAL_ADDRESS / profile)")
    w.add_argument(
        "--connect-timeout",
        type=float,
        default=60.0,
        help="keep retrying an unreachable Temporal server this many seconds (default 60)",
    )
    w.add_argument(
        "--config",
        default=None,
        help="worker config file (providers, limits, prices); default LLM_ORCHESTRATOR_CONFIG",
    )
    _observability_flags(w, metrics=True, level="INFO")
    w.set_defaults(func=_cmd_worker)

    s = sub.add_parser("server", help="run the embedded Temporal dev server in the foreground")
    s.add_argument("--port", type=int, default=7233)
    s.add_argument("--ui-port", type=int, default=8233)
    s.add_argument(
        "--db-file",
        type=Path,
        default=None,
        help=f"SQLite file (default {state_dir() / 'temporal.db'})",
    )
    s.add_argument(
        "--no-tune",
        action="store_true",
        help="the dev server's own defaults (slower; see docs/embedded-server.md)",
    )
    s.set_defaults(func=_cmd_server)


# --- inputs --------------------------------------------------------------------------


def _parse_inputs(items: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for item in items:
        text = item.strip()
        if text.startswith("@"):
            try:
                data = json.loads(Path(text[1:]).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise OrchestratorError(f"--input {item}: cannot read JSON: {exc}") from None
        elif text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise OrchestratorError(f"--input: not a JSON object: {exc}") from None
        elif "=" in text:
            key, raw = text.split("=", 1)
            try:
                value: Any = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            data = {key.strip(): value}
        elif Path(text).is_file():
            data = json.loads(Path(text).read_text(encoding="utf-8"))
        else:
            raise OrchestratorError(
                f"--input {item!r}: write KEY=VALUE, a JSON object, or @file.json"
            )
        if not isinstance(data, dict):
            raise OrchestratorError(f"--input {item}: inputs must be a JSON object")
        inputs.update(data)
    return inputs


def _run_input(args: argparse.Namespace) -> tuple[RunInput, WorkflowDefinition | None]:
    inputs = _parse_inputs(args.input)
    path = Path(args.workflow)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        definition = load_file(path)
        resolve_inputs(definition, inputs)  # fail before starting anything
        payload = definition.model_dump(mode="json", by_alias=True, exclude_none=True)
        return RunInput(definition=payload, inputs=inputs, offline=args.offline), definition
    return RunInput(workflow=args.workflow, inputs=inputs, offline=args.offline), None


async def _start(
    client: Client,
    args: argparse.Namespace,
    request: RunInput,
    definition: WorkflowDefinition | None,
) -> WorkflowHandle[Any, Any]:
    name = definition.name if definition else request.workflow or "run"
    workflow_id = args.id or f"{_slug(name)}-{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(
        WORKFLOW_TYPE,
        request,
        id=workflow_id,
        task_queue=args.task_queue,
        result_type=RunResult,
        static_summary=f"{definition.name} v{definition.version}" if definition else name,
        static_details=f"```mermaid\n{to_mermaid(definition)}```" if definition else None,
    )


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-") or "run"


# --- run / start ------------------------------------------------------------------------


def _observe(args: argparse.Namespace, service: str) -> observability.Observability:
    """Logging, tracing and metrics for this process, before anything connects."""
    configure_logging(args.log_format, args.log_level)
    return observability.setup(
        metrics_bind=getattr(args, "metrics_bind", None), service_name=service
    )


def _cmd_start(args: argparse.Namespace) -> int:
    request, definition = _run_input(args)
    obs = _observe(args, "llm-orchestrator-cli")

    async def go() -> int:
        client = await connect(args.address, interceptors=obs.interceptors)
        handle = await _start(client, args, request, definition)
        print(json.dumps({"workflow_id": handle.id, "run_id": handle.result_run_id}))
        return 0

    try:
        return asyncio.run(go())
    finally:
        obs.shutdown()


def _cmd_run(args: argparse.Namespace) -> int:
    request, definition = _run_input(args)
    obs = _observe(args, "llm-orchestrator")
    # SIGTERM unwinds like Ctrl-C, so the dev server we may have started is stopped too
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return asyncio.run(_run(args, request, definition, obs))
    finally:
        obs.shutdown()


async def _run(
    args: argparse.Namespace,
    request: RunInput,
    definition: WorkflowDefinition | None,
    obs: observability.Observability,
) -> int:
    server: DevServer | None = None
    if not args.address and not address_configured() and not port_open("127.0.0.1", 7233):
        log = state_dir() / "temporal-server.log"
        state_dir().mkdir(parents=True, exist_ok=True)
        _say(
            args,
            f"no Temporal server configured or running: starting the embedded dev server "
            f"(127.0.0.1:7233, Web UI http://127.0.0.1:8233, log {log})",
        )
        server = DevServer().start(log=log)
    stop = asyncio.Event()
    worker_task: asyncio.Task[None] | None = None
    try:
        client = await connect(
            args.address or (server.address if server else None),
            runtime=obs.runtime,
            interceptors=obs.interceptors,
        )
        if obs.metrics_address:
            _say(args, f"metrics on http://{obs.metrics_address}/metrics")
        if not args.no_worker:
            settings = ActivitySettings.from_env(catalog_dir=args.catalog)
            config = load_worker_config(args.config)
            worker_task = asyncio.create_task(
                run_worker(client, settings, config=config, task_queue=args.task_queue, stop=stop)
            )
            _say(args, f"in-process worker on task queue `{args.task_queue}`")
        handle = await _start(client, args, request, definition)
        _say(args, f"started {handle.id} (run {handle.result_run_id})")
        return await _follow(args, handle)
    finally:
        stop.set()
        if worker_task is not None:
            await asyncio.gather(worker_task, return_exceptions=True)
        if server is not None:
            server.stop()


async def _follow(args: argparse.Namespace, handle: WorkflowHandle[Any, Any]) -> int:
    result_task = asyncio.ensure_future(handle.result())
    seen: dict[str, str] = {}
    while not result_task.done():
        await asyncio.wait({result_task}, timeout=0.25)
        try:
            progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        except Exception:  # the query can race the run's start or end; progress is best effort
            continue
        _report(args, progress, seen)
    try:
        result: RunResult = result_task.result()
    except WorkflowFailureError as exc:
        print(f"run {handle.id} failed: {_failure_text(exc)}", file=sys.stderr)
        return 1
    _report(args, Progress(steps=result.steps, status="completed"), seen)
    print(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def _failure_text(exc: WorkflowFailureError) -> str:
    cause: BaseException | None = exc.cause
    parts: list[str] = []
    while isinstance(cause, FailureError):
        if isinstance(cause, ApplicationError) or not parts:
            parts.append(cause.message)
        cause = cause.cause
    return parts[0] if parts else str(exc)


_MARKS = {"completed": "✓", "failed": "✗", "skipped": "–", "running": "…"}


def _report(args: argparse.Namespace, progress: Progress, seen: dict[str, str]) -> None:
    for step_id, record in progress.steps.items():
        if seen.get(step_id) == record.status or record.status == "pending":
            continue
        seen[step_id] = record.status
        detail = ""
        if record.status in ("completed", "failed") and record.duration_ms is not None:
            detail = f" ({record.duration_ms} ms"
            detail += f", {record.attempts} attempts)" if record.attempts > 1 else ")"
        if record.reason:
            detail += f" — {record.reason}"
        if record.error:
            detail += f" — {record.error}"
        _say(args, f"{_MARKS[record.status]} {step_id} {record.status}{detail}")


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


# --- worker / server ---------------------------------------------------------------------


def _cmd_worker(args: argparse.Namespace) -> int:
    settings = ActivitySettings.from_env(catalog_dir=args.catalog)
    config = load_worker_config(args.config)
    obs = _observe(args, "llm-orchestrator-worker")

    async def go() -> int:
        client = await connect(
            args.address,
            runtime=obs.runtime,
            interceptors=obs.interceptors,
            wait=args.connect_timeout,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info(
            "worker on %s, task queue `%s`, catalog %s%s%s",
            client.service_client.config.target_host,
            args.task_queue,
            settings.catalog_dir,
            f", metrics on http://{obs.metrics_address}/metrics" if obs.metrics_address else "",
            ", tracing on" if obs.tracer_provider is not None else "",
        )
        await run_worker(
            client,
            settings,
            config=config,
            task_queue=args.task_queue,
            max_concurrent_activities=args.max_concurrent_activities,
            max_cached_workflows=args.max_cached_workflows,
            stop=stop,
        )
        return 0

    try:
        return asyncio.run(go())
    finally:
        obs.shutdown()


def _cmd_server(args: argparse.Namespace) -> int:
    server = DevServer(
        port=args.port, ui_port=args.ui_port, db_file=args.db_file, tuned=not args.no_tune
    )
    command = server.command()
    print(
        f"Temporal dev server on 127.0.0.1:{args.port}, Web UI http://127.0.0.1:{args.ui_port}, "
        f"data {command[command.index('--db-filename') + 1]}",
        file=sys.stderr,
        flush=True,
    )
    # become the server process, so signals (Ctrl-C, SIGTERM from a supervisor) reach it
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process

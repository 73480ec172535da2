"""Typed, frozen options of the Temporal-facing commands, built once from argparse.

``commands.py`` declares the flags and calls ``XOptions.from_args(args)``; nothing
below it sees an ``argparse.Namespace``. Defaults that come from the environment
(``LLM_ORCHESTRATOR_*``) are argparse defaults, so a command reads one value.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "GRACEFUL_SHUTDOWN",
    "STATUS_NAMES",
    "ApproveOptions",
    "ConnectionOptions",
    "EstimateOptions",
    "ListOptions",
    "LogOptions",
    "RecordOptions",
    "RerunOptions",
    "RunOptions",
    "RunRefOptions",
    "ServerOptions",
    "SignalOptions",
    "StartOptions",
    "TestOptions",
    "WorkerOptions",
]

DEFAULT_TASK_QUEUE = "llm-orchestrator"
"""``interpreter.contract.DEFAULT_TASK_QUEUE``, repeated here so that building the parser
imports no pydantic model (a test checks that the two agree)."""

GRACEFUL_SHUTDOWN = timedelta(seconds=30)
"""How long a stopping worker lets the steps in flight finish before cancelling them.

Without it a Ctrl-C or SIGTERM turns the running attempt into a `WorkerShutdown`
failure: a failed run under ``max_attempts: 1``, a repeated POST otherwise.
(``llm_orchestrator.worker`` applies it; it lives here because `worker --help` says it.)
"""

STATUS_NAMES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "canceled": "Canceled",
    "cancelled": "Canceled",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
    "continued_as_new": "ContinuedAsNew",
}
"""`list --status` values → Temporal visibility's ``ExecutionStatus``."""


@dataclass(frozen=True, slots=True)
class LogOptions:
    """Logging and metrics of this process (``llm_orchestrator.observability``)."""

    log_format: Literal["text", "json"] = "text"
    log_level: str = "WARNING"
    metrics_bind: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LogOptions:
        return cls(
            log_format=args.log_format,
            log_level=args.log_level,
            metrics_bind=getattr(args, "metrics_bind", None),
        )


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """Where Temporal is: flags over ``temporalio.envconfig`` (``llm_orchestrator.connect``)."""

    address: str | None = None
    task_queue: str = DEFAULT_TASK_QUEUE
    ui_url: str | None = None
    """Base URL of the Temporal Web UI; ``None``: guessed from the address."""
    namespace: str | None = None
    profile: str | None = None
    """A profile of the Temporal config file; ``None``: ``TEMPORAL_PROFILE``, else ``default``."""
    config_file: str | None = None
    """The Temporal config file; ``None``: ``TEMPORAL_CONFIG_FILE``, else the standard one."""

    def flags(self) -> list[str]:
        """The command-line flags that reach the same server again (for hints)."""
        flags: list[str] = []
        for flag, value in (
            ("--address", self.address),
            ("--namespace", self.namespace),
            ("--profile", self.profile),
            ("--config-file", self.config_file),
        ):
            if value:
                flags += [flag, value]
        return flags

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ConnectionOptions:
        return cls(
            address=args.address,
            namespace=getattr(args, "namespace", None),
            profile=getattr(args, "profile", None),
            config_file=getattr(args, "config_file", None),
            task_queue=getattr(args, "task_queue", None) or DEFAULT_TASK_QUEUE,
            ui_url=getattr(args, "ui_url", None) or None,
        )


@dataclass(frozen=True, slots=True)
class EstimateOptions:
    """`estimate` (and `validate --estimate`): the inputs to price a run with, and where
    the prices are (the worker config's ``prices`` over the built-in table)."""

    inputs: tuple[str, ...]
    offline: bool
    config: str | None
    json: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EstimateOptions:
        return cls(
            inputs=tuple(args.input),
            offline=args.offline,
            config=args.config,
            json=args.json,
        )


@dataclass(frozen=True, slots=True)
class StartOptions:
    """`start`: what to run, with which inputs, under which id."""

    workflow: str
    inputs: tuple[str, ...]
    offline: bool
    mocks: tuple[str, ...]
    """``--mock STEP=VALUE`` as written (``llm_orchestrator.request.parse_mocks``)."""
    workflow_id: str | None
    json: bool
    connection: ConnectionOptions
    logs: LogOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StartOptions:
        return cls(
            workflow=args.workflow,
            inputs=tuple(args.input),
            offline=args.offline,
            mocks=tuple(args.mock),
            workflow_id=args.id,
            json=args.json,
            connection=ConnectionOptions.from_args(args),
            logs=LogOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class RunOptions:
    """`run`: a start, then an in-process worker (unless ``no_worker``) and a wait."""

    start: StartOptions
    no_worker: bool
    catalog: Path | None
    config: str | None
    quiet: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        return cls(
            start=StartOptions.from_args(args),
            no_worker=args.no_worker,
            catalog=Path(args.catalog) if args.catalog else None,
            config=args.config,
            quiet=args.quiet,
        )


@dataclass(frozen=True, slots=True)
class RunRefOptions:
    """`status`, `result`, `cancel`, `watch`: one run, by workflow id (and optionally run id)."""

    workflow_id: str
    run_id: str | None
    json: bool
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunRefOptions:
        return cls(
            workflow_id=args.workflow_id,
            run_id=args.run_id,
            json=getattr(args, "json", False),
            connection=ConnectionOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class RerunOptions:
    """`rerun`: a new run from an old one's step (``llm_orchestrator.rerun``)."""

    workflow_id: str
    run_id: str | None
    start_from: str | None
    file: Path | None
    inputs: tuple[str, ...]
    sets: tuple[str, ...]
    """``--set STEP=JSON`` as written."""
    force: bool
    yes: bool
    cancel_old: bool
    new_id: str | None
    wait: bool
    json: bool
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RerunOptions:
        return cls(
            workflow_id=args.workflow_id,
            run_id=args.run_id,
            start_from=args.start_from,
            file=Path(args.file) if args.file else None,
            inputs=tuple(args.input),
            sets=tuple(args.set),
            force=args.force,
            yes=args.yes,
            cancel_old=args.cancel_old,
            new_id=args.id,
            wait=args.wait,
            json=args.json,
            connection=ConnectionOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class ApproveOptions:
    """`approve`: a person's decision on one `approval` step of a run."""

    workflow_id: str
    run_id: str | None
    step: str
    reject: bool
    comment: str | None
    by: str | None
    data: str | None
    """As written: JSON when it parses, else text; ``@file.json`` reads a file."""
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApproveOptions:
        return cls(
            workflow_id=args.workflow_id,
            run_id=args.run_id,
            step=args.step,
            reject=args.reject,
            comment=args.comment,
            by=args.by,
            data=args.data,
            connection=ConnectionOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class SignalOptions:
    """`signal`: a named signal (with an optional payload) for a `wait` step of a run."""

    workflow_id: str
    run_id: str | None
    name: str
    data: str | None
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SignalOptions:
        return cls(
            workflow_id=args.workflow_id,
            run_id=args.run_id,
            name=args.name,
            data=args.data,
            connection=ConnectionOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class ListOptions:
    """`list`: recent `DagWorkflow` runs from Temporal visibility."""

    status: str | None
    limit: int
    json: bool
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ListOptions:
        return cls(
            status=args.status,
            limit=args.limit,
            json=args.json,
            connection=ConnectionOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """`worker`: a long-running worker process."""

    catalog: Path | None
    config: str | None
    max_concurrent_activities: int
    max_cached_workflows: int
    connect_timeout: float
    connection: ConnectionOptions
    logs: LogOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> WorkerOptions:
        return cls(
            catalog=Path(args.catalog) if args.catalog else None,
            config=args.config,
            max_concurrent_activities=args.max_concurrent_activities,
            max_cached_workflows=args.max_cached_workflows,
            connect_timeout=args.connect_timeout,
            connection=ConnectionOptions.from_args(args),
            logs=LogOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """`server`: the embedded dev server in the foreground."""

    port: int
    ui_port: int
    db_file: Path | None
    tuned: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServerOptions:
        return cls(
            port=args.port, ui_port=args.ui_port, db_file=args.db_file, tuned=not args.no_tune
        )


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """`record`: a finished run into a cassette file (``llm_orchestrator.cassette``)."""

    workflow_id: str
    run_id: str | None
    output: Path
    workflow: str | None
    """Where `test` reads the workflow later: a file, or a catalog name."""
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RecordOptions:
        return cls(
            workflow_id=args.workflow_id,
            run_id=args.run_id,
            output=Path(args.output),
            workflow=args.workflow,
            connection=ConnectionOptions.from_args(args),
        )


@dataclass(frozen=True, slots=True)
class TestOptions:
    """`test`: replay cassettes offline (or re-record them with ``update``)."""

    __test__ = False  # not a pytest test class, whatever its name

    paths: tuple[Path, ...]
    update: bool
    catalog: Path | None
    config: str | None
    timeout: float
    connection: ConnectionOptions

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TestOptions:
        return cls(
            paths=tuple(Path(p) for p in args.paths),
            update=args.update,
            catalog=Path(args.catalog) if args.catalog else None,
            config=args.config,
            timeout=args.timeout,
            connection=ConnectionOptions.from_args(args),
        )

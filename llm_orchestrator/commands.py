"""Every sub-command's flags, and the one place an ``argparse.Namespace`` becomes options.

Each command is ``set_defaults(func=...)`` with a function that builds its frozen
options (``llm_orchestrator.options``) and calls the command's module:
``language`` (validate, schema, graph), ``runs`` (run, start), ``manage``
(status, result, cancel, list), ``watch`` (watch), ``rerun`` (rerun), ``answer`` (approve,
signal), ``serve`` (worker, server), ``indexing`` (index), ``cache_cli`` (cache),
``mcp_server`` (mcp-server), ``cassette.cli`` (record, test). A command's module is
imported when the command runs, never while the parser is built: `--help` and
`validate` must not pay for the Temporal client, workers, vector stores or telemetry.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TypeAlias

from llm_orchestrator.devserver import state_dir
from llm_orchestrator.options import (
    DEFAULT_TASK_QUEUE,
    GRACEFUL_SHUTDOWN,
    STATUS_NAMES,
    ApproveOptions,
    EstimateOptions,
    ListOptions,
    RecordOptions,
    RerunOptions,
    RunOptions,
    RunRefOptions,
    ServerOptions,
    SignalOptions,
    StartOptions,
    TestOptions,
    WorkerOptions,
)

__all__ = ["register"]

UI_URL_ENV = "LLM_ORCHESTRATOR_UI_URL"

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(sub: Sub) -> None:
    """Add every sub-command to the CLI parser."""
    _language(sub)
    _run_and_start(sub)
    _manage(sub)
    _rerun(sub)
    _serve(sub)
    _index(sub)
    _cache(sub)
    _mcp_server(sub)
    _cassettes(sub)


def _language(sub: Sub) -> None:
    p = sub.add_parser("validate", help="check workflow files; exit 1 if any is invalid")
    p.add_argument("files", nargs="+", metavar="FILE", help="workflow files (YAML or JSON)")
    p.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    p.add_argument(
        "--estimate",
        action="store_true",
        help="also print each valid file's worst-case tokens and dollars (see `estimate`)",
    )
    _estimate_flags(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "estimate", help="worst-case tokens and dollars of a run, per step, before it runs"
    )
    p.add_argument("file", metavar="FILE", help="a workflow file")
    p.add_argument("--json", action="store_true", help="machine-readable estimate on stdout")
    _estimate_flags(p)
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("schema", help="print the JSON Schema of the workflow language")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("graph", help="print the workflow's DAG as Mermaid or Graphviz dot")
    p.add_argument("file", metavar="FILE", help="a workflow file")
    p.add_argument(
        "--format", choices=["mermaid", "dot"], default="mermaid", help="default mermaid"
    )
    p.set_defaults(func=_cmd_graph)


def _estimate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input, as for `run` (prompts are rendered with it); repeatable",
    )
    p.add_argument("--offline", action="store_true", help="price as an --offline run ($0)")
    p.add_argument(
        "--config",
        default=None,
        help="worker config file whose `prices` apply; default LLM_ORCHESTRATOR_CONFIG",
    )


def _connection_flags(p: argparse.ArgumentParser, *, task_queue: bool, ui: bool) -> None:
    """Where Temporal is, as the Temporal CLI names it (over TEMPORAL_* and the config file)."""
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="Temporal frontend address (default: TEMPORAL_ADDRESS, else the profile's)",
    )
    p.add_argument(
        "--namespace", help="Temporal namespace (default: TEMPORAL_NAMESPACE, else the profile's)"
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="profile of the Temporal config file (default: TEMPORAL_PROFILE, else `default`)",
    )
    p.add_argument(
        "--config-file",
        metavar="FILE",
        help="Temporal config file (default: TEMPORAL_CONFIG_FILE, else "
        "~/.config/temporalio/temporal.toml)",
    )
    if task_queue:
        p.add_argument(
            "--task-queue",
            metavar="QUEUE",
            default=DEFAULT_TASK_QUEUE,
            help=f"task queue of the workers that run the steps (default {DEFAULT_TASK_QUEUE})",
        )
    if ui:
        p.add_argument(
            "--ui-url",
            metavar="URL",
            default=os.environ.get(UI_URL_ENV) or None,
            help=f"base URL of the Temporal Web UI for links (default: {UI_URL_ENV}; "
            "http://127.0.0.1:8233 for a server on 127.0.0.1:7233)",
        )


def _log_flags(p: argparse.ArgumentParser, *, metrics: bool, level: str) -> None:
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


def _catalog_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--catalog",
        metavar="DIR",
        default=None,
        help='directory of workflow files for {"workflow": NAME} (default: '
        "LLM_ORCHESTRATOR_CATALOG, else ./examples; it must exist)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="worker config file (providers, limits, prices); default LLM_ORCHESTRATOR_CONFIG",
    )


def _run_and_start(sub: Sub) -> None:
    for name, help_text in (
        ("run", "start a run, serve it and wait for its result (starts a dev server if needed)"),
        ("start", "start a run; print its workflow id, run id and Web UI URL, and return"),
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
            help="an input: text for a declared `string` input, else JSON when it parses; "
            "or a JSON object, or @file.json; repeatable",
        )
        p.add_argument(
            "--offline",
            action="store_true",
            help="answer every model call with the offline provider (no keys needed)",
        )
        p.add_argument(
            "--mock",
            action="append",
            default=[],
            metavar="STEP=VALUE",
            help="give STEP this output instead of running it (a branch takes that case); "
            "VALUE is JSON when it parses, else text, or @file.json; repeatable",
        )
        p.add_argument("--id", help="workflow id (default: <name>-<random>)")
        p.add_argument(
            "--json",
            action="store_true",
            help="print only JSON on stdout: the whole result (run) or the ids and URL (start)",
        )
        _connection_flags(p, task_queue=True, ui=True)
        if name == "run":
            p.add_argument(
                "--no-worker",
                action="store_true",
                help="do not start an in-process worker; rely on running workers",
            )
            _catalog_flag(p)
            p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
            p.set_defaults(func=_cmd_run)
        else:
            p.set_defaults(func=_cmd_start)
        _log_flags(p, metrics=name == "run", level="WARNING")


def _manage(sub: Sub) -> None:
    for name, help_text, func, json_flag in (
        ("status", "a run's state, steps, usage and what it waits for", _cmd_status, True),
        ("result", "wait for a run and print its result (exit 1 if it failed)", _cmd_result,
         True),
        ("cancel", "cancel a running run", _cmd_cancel, False),
        ("watch", "print a run's live tokens as they arrive (or those it kept), then its "
         "result", _cmd_watch, True),
    ):  # fmt: skip
        p = sub.add_parser(name, help=help_text)
        p.add_argument("workflow_id", metavar="WORKFLOW_ID", help="the run's workflow id")
        p.add_argument("--run-id", help="a specific run of that id (default: the latest)")
        if json_flag:
            p.add_argument("--json", action="store_true", help="print only JSON on stdout")
        _connection_flags(p, task_queue=False, ui=name == "status")
        p.set_defaults(func=func)

    _answer(sub)

    p = sub.add_parser("list", help="recent DagWorkflow runs with their status, newest first")
    p.add_argument("--status", choices=sorted(STATUS_NAMES), help="only runs in this state")
    p.add_argument("-n", "--limit", type=int, default=20, help="at most this many (default 20)")
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    _connection_flags(p, task_queue=False, ui=True)
    p.set_defaults(func=_cmd_list)


def _rerun(sub: Sub) -> None:
    p = sub.add_parser(
        "rerun",
        help="start a new run from a step of an old one, reusing the steps before it",
        description="Start a new run linked to WORKFLOW_ID that reuses the recorded output of "
        "every step not downstream of STEP (status `reused`, no model call, not charged "
        "again) and runs STEP and everything after it, from FILE when given. Without --from: "
        "from the old run's first failed step. Needs a worker on the old run's task queue "
        "(it reads the old steps through the `progress` query).",
    )
    p.add_argument("workflow_id", metavar="WORKFLOW_ID", help="the old run's workflow id")
    p.add_argument("--run-id", help="a specific run of that id (default: the latest)")
    p.add_argument(
        "--from", dest="start_from", metavar="STEP", help="run this step and everything after it"
    )
    p.add_argument("--file", metavar="FILE", help="the edited workflow file to run instead")
    p.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an input (as for `run`); the old run's inputs otherwise; repeatable",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STEP=JSON",
        help="give STEP this output and rerun what depends on it; JSON when it parses, else "
        "text, or @file.json; repeatable",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="reuse steps the edited file or inputs changed, with their old outputs",
    )
    p.add_argument(
        "--yes", action="store_true", help="run `action` steps again (side effects) without asking"
    )
    p.add_argument(
        "--cancel-old", action="store_true", help="cancel the old run first if it is running"
    )
    p.add_argument("--id", help="workflow id of the new run (default: <name>-<random>)")
    p.add_argument("--wait", action="store_true", help="wait for the new run and print its result")
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    _connection_flags(p, task_queue=False, ui=True)
    p.set_defaults(func=_cmd_rerun)


def _answer(sub: Sub) -> None:
    data_help = "JSON when it parses, else text; @file.json reads a file"
    p = sub.add_parser(
        "approve",
        help="approve (or --reject) an `approval` step a run waits for",
        description="Decide an `approval` step through the run's `approve` Update: an "
        "unknown step, a step not waiting, or a second decision fails at once (exit 1).",
    )
    p.add_argument("workflow_id", metavar="WORKFLOW_ID", help="the run's workflow id")
    p.add_argument("step", metavar="STEP", help="the id of the `approval` step")
    p.add_argument("--reject", action="store_true", help="reject instead of approve")
    p.add_argument("--comment", metavar="TEXT", help="a comment kept with the decision")
    p.add_argument("--by", metavar="NAME", help="who decided (the step's `output.by`)")
    p.add_argument("--data", metavar="JSON", help=f"extra data for the step's output; {data_help}")
    p.add_argument("--run-id", help="a specific run of that id (default: the latest)")
    _connection_flags(p, task_queue=False, ui=False)
    p.set_defaults(func=_cmd_approve)

    p = sub.add_parser("signal", help="send a named signal to a run (for its `wait` steps)")
    p.add_argument("workflow_id", metavar="WORKFLOW_ID", help="the run's workflow id")
    p.add_argument("name", metavar="NAME", help="the signal's name (a `wait` step's `signal:`)")
    p.add_argument("--data", metavar="JSON", help=f"the payload (the step's output); {data_help}")
    p.add_argument("--run-id", help="a specific run of that id (default: the latest)")
    _connection_flags(p, task_queue=False, ui=False)
    p.set_defaults(func=_cmd_signal)


def _serve(sub: Sub) -> None:
    grace = f"{GRACEFUL_SHUTDOWN.total_seconds():g} s"
    p = sub.add_parser(
        "worker",
        help="run a worker (same as `python worker.py`)",
        description="Serve DagWorkflow and the step activities. SIGINT/SIGTERM stop polling and "
        f"give steps in flight {grace} to finish; a second signal stops at once.",
    )
    _catalog_flag(p)
    p.add_argument(
        "--max-concurrent-activities",
        type=int,
        default=100,
        metavar="N",
        help="steps this worker runs at once (default 100)",
    )
    p.add_argument(
        "--max-cached-workflows",
        type=int,
        default=1000,
        metavar="N",
        help="runs kept in memory between their steps; others are replayed (default 1000)",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=60.0,
        help="keep retrying an unreachable Temporal server this many seconds (default 60)",
    )
    _connection_flags(p, task_queue=True, ui=False)
    _log_flags(p, metrics=True, level="INFO")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("server", help="run the embedded Temporal dev server in the foreground")
    p.add_argument("--port", type=int, default=7233, help="frontend port (default 7233)")
    p.add_argument("--ui-port", type=int, default=8233, help="Web UI port (default 8233)")
    p.add_argument(
        "--db-file",
        type=Path,
        default=None,
        help=f"SQLite file (default {state_dir() / 'temporal.db'})",
    )
    p.add_argument(
        "--no-tune",
        action="store_true",
        help="the dev server's own defaults (slower; see docs/embedded-server.md)",
    )
    p.set_defaults(func=_cmd_server)


def _index(sub: Sub) -> None:
    p = sub.add_parser(
        "index",
        help="read, chunk, embed and upsert documents into a vector index",
        description="Index text, Markdown and PDF files for `vector_search` steps. Re-running "
        "is cheap: unchanged files are skipped, changed files have their chunks replaced.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (recursive)")
    p.add_argument(
        "--store",
        default="local",
        metavar="URI",
        help="local (default: the embedded LanceDB store), local:PATH, postgresql://..., "
        "or a database name configured with LLM_ORCHESTRATOR_VECTORSTORE_<NAME>",
    )
    p.add_argument("--index", default="docs", help="index name (default: docs)")
    p.add_argument(
        "--embedder",
        metavar="PROVIDER/MODEL",
        help="default: the embedder the index was built with, else offline/hashed; "
        "e.g. openai/text-embedding-3-small, local/all-minilm-l6-v2",
    )
    p.add_argument("--namespace", default=None, help="namespace inside the index")
    p.add_argument("--chunk-size", type=int, default=800, help="characters (default 800)")
    p.add_argument("--chunk-overlap", type=int, default=100, help="characters (default 100)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per embedding call")
    p.add_argument(
        "--offline",
        action="store_true",
        help="embed with the offline provider (no keys); `local/...` stays local",
    )
    p.add_argument("--config", default=None, help="worker config file (providers)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_index)


def _cache(sub: Sub) -> None:
    p = sub.add_parser(
        "cache",
        help="the step cache: count its entries, or clear them",
        description="Model steps with `cache:` keep their answers across runs (docs/cache.md).",
    )
    actions = p.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", help="entries, expired entries and size of the cache")
    stats.add_argument("--json", action="store_true", help="machine-readable on stdout")
    clear = actions.add_parser("clear", help="delete every entry (or only the expired ones)")
    clear.add_argument("--expired", action="store_true", help="delete only expired entries")
    for q in (stats, clear):
        q.add_argument(
            "--cache",
            metavar="URL",
            default=None,
            help="a SQLite file or postgresql:// URL (default: LLM_ORCHESTRATOR_CACHE, else "
            "step-cache.sqlite3 in the state directory)",
        )
    stats.set_defaults(func=_cmd_cache_stats)
    clear.set_defaults(func=_cmd_cache_clear)


def _mcp_server(sub: Sub) -> None:
    p = sub.add_parser(
        "mcp-server",
        help="serve every catalog workflow as an MCP tool (stdio or Streamable HTTP)",
        description="Expose the workflows of a catalog directory as MCP tools: calling one "
        "starts a run on Temporal and answers with its outputs and workflow id. Runs need "
        "workers on the task queue, as for `start`.",
    )
    p.add_argument(
        "--catalog",
        default=None,
        help="directory of workflow files (default LLM_ORCHESTRATOR_CATALOG, else examples/)",
    )
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument(
        "--task-queue",
        default=DEFAULT_TASK_QUEUE,
        help=f"task queue of the workers that run the steps (default {DEFAULT_TASK_QUEUE})",
    )
    p.add_argument("--address", help="Temporal address (default: TEMPORAL_ADDRESS / profile)")
    p.add_argument(
        "--offline",
        action="store_true",
        help="runs answer every model call with the offline provider (no keys needed)",
    )
    p.set_defaults(func=_cmd_mcp_server)


# --- the commands: Namespace → options, once -----------------------------------------------


def _cassettes(sub: Sub) -> None:
    p = sub.add_parser(
        "record",
        help="store a finished run as a cassette: definition, inputs, every outside answer",
        description="Read a completed or failed run's history (and its child runs') and write "
        "a cassette that `llm-orchestrator test` replays offline (docs/testing.md).",
    )
    p.add_argument("workflow_id", metavar="WORKFLOW_ID", help="the run's workflow id")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the cassette to write, e.g. tests/runs/NAME.json")  # fmt: skip
    p.add_argument("--run-id", help="a specific run of that id (default: the latest)")
    p.add_argument(
        "--workflow",
        metavar="FILE_OR_NAME",
        help="the workflow file (or catalog name) that `test` checks as it is then; default: "
        "the catalog name of a run started by name, else the definition pinned in the run",
    )
    _connection_flags(p, task_queue=False, ui=False)
    p.set_defaults(func=_cmd_record)

    p = sub.add_parser(
        "test",
        help="replay cassettes offline; exit 1 on any difference (or --update them)",
        description="Run each cassette's workflow again with every model, search, tool and "
        "http call answered from the cassette; a request that differs is shown as a diff, "
        "and outputs and step statuses are compared. Uses the configured Temporal server, "
        "else starts the embedded one, as `run` does.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", default=["tests/runs"],
                   help="cassette files or directories (default tests/runs)")  # fmt: skip
    p.add_argument(
        "--update",
        action="store_true",
        help="re-record: run each workflow for real (the configured providers; the offline "
        "provider if the cassette was offline) and rewrite its cassette",
    )
    _catalog_flag(p)
    p.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                   help="longest a replayed run may take (default 300)")  # fmt: skip
    _connection_flags(p, task_queue=False, ui=False)
    p.set_defaults(func=_cmd_test)


def _cmd_validate(args: argparse.Namespace) -> int:
    from llm_orchestrator import language

    return language.validate(
        args.files,
        json_output=args.json,
        estimate=EstimateOptions.from_args(args) if args.estimate else None,
    )


def _cmd_estimate(args: argparse.Namespace) -> int:
    from llm_orchestrator import language

    return language.estimate(args.file, EstimateOptions.from_args(args))


def _cmd_schema(args: argparse.Namespace) -> int:
    from llm_orchestrator import language

    return language.schema(args.output)


def _cmd_graph(args: argparse.Namespace) -> int:
    from llm_orchestrator import language

    return language.graph(args.file, fmt=args.format)


def _cmd_run(args: argparse.Namespace) -> int:
    from llm_orchestrator import runs

    return runs.run(RunOptions.from_args(args))


def _cmd_start(args: argparse.Namespace) -> int:
    from llm_orchestrator import runs

    return runs.start(StartOptions.from_args(args))


def _cmd_status(args: argparse.Namespace) -> int:
    from llm_orchestrator import manage

    return manage.status(RunRefOptions.from_args(args))


def _cmd_result(args: argparse.Namespace) -> int:
    from llm_orchestrator import manage

    return manage.result(RunRefOptions.from_args(args))


def _cmd_watch(args: argparse.Namespace) -> int:
    from llm_orchestrator import watch

    return watch.watch(RunRefOptions.from_args(args))


def _cmd_cancel(args: argparse.Namespace) -> int:
    from llm_orchestrator import manage

    return manage.cancel(RunRefOptions.from_args(args))


def _cmd_rerun(args: argparse.Namespace) -> int:
    from llm_orchestrator import rerun

    return rerun.command(RerunOptions.from_args(args))


def _cmd_approve(args: argparse.Namespace) -> int:
    from llm_orchestrator import answer

    return answer.approve(ApproveOptions.from_args(args))


def _cmd_signal(args: argparse.Namespace) -> int:
    from llm_orchestrator import answer

    return answer.signal(SignalOptions.from_args(args))


def _cmd_list(args: argparse.Namespace) -> int:
    from llm_orchestrator import manage

    return manage.list_runs(ListOptions.from_args(args))


def _cmd_worker(args: argparse.Namespace) -> int:
    from llm_orchestrator import serve

    return serve.worker(WorkerOptions.from_args(args))


def _cmd_server(args: argparse.Namespace) -> int:
    from llm_orchestrator import serve

    return serve.server(ServerOptions.from_args(args))


def _cmd_index(args: argparse.Namespace) -> int:
    from llm_orchestrator import indexing

    return indexing.index(args)


def _cmd_cache_stats(args: argparse.Namespace) -> int:
    from llm_orchestrator import cache_cli

    return cache_cli.stats(args)


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    from llm_orchestrator import cache_cli

    return cache_cli.clear(args)


def _cmd_mcp_server(args: argparse.Namespace) -> int:
    import asyncio

    from llm_orchestrator import mcp_server

    asyncio.run(mcp_server.serve(args))
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from llm_orchestrator.cassette import cli

    return cli.record(RecordOptions.from_args(args))


def _cmd_test(args: argparse.Namespace) -> int:
    from llm_orchestrator.cassette import cli

    return cli.test(TestOptions.from_args(args))

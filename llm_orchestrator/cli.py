"""The thin command line: parse arguments, validate, start runs, report.

It never executes a step itself; runs happen on Temporal through workers. The
exit codes are in ``llm_orchestrator.exits`` (and docs/cli.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import shtab
from temporalio.service import RPCError, RPCStatusCode

from interpreter.errors import OrchestratorError, WorkflowDefinitionError
from llm_orchestrator.exits import ExitCode, SetupError
from llm_orchestrator.process import exit_process

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-orchestrator",
        description="Durable LLM pipelines on Temporal: validate, draw, run and manage "
        "workflow runs. Exit codes: 0 completed, 1 failed or invalid, 2 usage, "
        "3 Temporal unreachable or bad configuration, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    shtab.add_argument_to(
        parser,
        ["--print-completion"],
        help='print a shell completion script: eval "$(llm-orchestrator --print-completion bash)"',
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from llm_orchestrator import commands, indexing, mcp_server

    commands.register(sub)
    indexing.register(sub)
    mcp_server.register(sub)
    return parser


def _version() -> str:
    try:
        return version("llm-orchestrator")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None, *, exit_process_when_done: bool | None = None) -> int:
    """Run the CLI and return its exit code.

    As the process's entry point (``argv`` not given, or ``exit_process_when_done``)
    it does not return: it flushes its output and ends the process itself, which
    avoids the Temporal runtime's abort at interpreter exit (see
    ``llm_orchestrator.process``).
    """
    code = _main(argv)
    if exit_process_when_done if exit_process_when_done is not None else argv is None:
        exit_process(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    try:
        # inside the try: `--print-completion bash | head` writes while parsing
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except WorkflowDefinitionError as exc:
        for problem in exc.problems:
            print(problem.format(), file=sys.stderr)
        return ExitCode.FAILED
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except RPCError as exc:
        print(f"error: Temporal: {exc.message}", file=sys.stderr)
        unavailable = exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        return ExitCode.UNAVAILABLE if unavailable else ExitCode.FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # the reader left (`... | head`): stop quietly, and keep the final flush from failing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE


if __name__ == "__main__":
    main()

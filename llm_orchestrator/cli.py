"""The thin command line: parse arguments, validate, start runs, report.

It never executes a step itself; runs happen on Temporal through workers. The
exit codes are in ``llm_orchestrator.exits`` (and docs/cli.md).

Start-up stays light: building the parser imports no Temporal client or worker,
activity, vector store or telemetry code; each command imports what it uses when
it runs (``--help`` and ``validate`` take well under 300 ms, docs/performance.md;
``tests/llm_orchestrator/test_startup_imports.py`` guards it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

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
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    parser.add_argument(
        "--print-completion",
        action=_Completion,
        choices=_SHELLS,
        help='print a shell completion script: eval "$(llm-orchestrator --print-completion bash)"',
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from llm_orchestrator import commands

    commands.register(sub)
    return parser


class _Version(argparse.Action):
    """``--version``, reading the installed metadata only when asked (it costs ~20 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("llm-orchestrator")
        except PackageNotFoundError:  # a source tree that was never installed
            found = "unknown"
        print(f"{parser.prog} {found}")
        parser.exit(0)


_SHELLS = ("bash", "zsh", "tcsh")
"""The shells ``shtab`` writes completion scripts for."""


class _Completion(argparse.Action):
    """``--print-completion SHELL``: ``shtab`` is imported only when asked (~35 ms)."""

    def __call__(
        self, parser: argparse.ArgumentParser, _ns: argparse.Namespace, values: Any, *_: Any
    ) -> None:
        import shtab

        print(shtab.complete(parser, values))
        parser.exit(0)


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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # the reader left (`... | head`): stop quietly, and keep the final flush from failing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
    except Exception as exc:
        code = _temporal_error(exc)
        if code is None:
            raise
        return code


def _temporal_error(exc: Exception) -> int | None:
    """The exit code of a Temporal RPC error (said on stderr), ``None`` for anything else.

    Decided without importing the Temporal client: if ``temporalio.service`` was never
    imported, no RPC was made and ``exc`` cannot be one of its errors.
    """
    service = sys.modules.get("temporalio.service")
    if service is None or not isinstance(exc, service.RPCError):
        return None
    print(f"error: Temporal: {exc.message}", file=sys.stderr)
    codes = service.RPCStatusCode
    unavailable = exc.status in (codes.UNAVAILABLE, codes.DEADLINE_EXCEEDED)
    return int(ExitCode.UNAVAILABLE if unavailable else ExitCode.FAILED)


if __name__ == "__main__":
    main()

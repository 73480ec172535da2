"""The CLI's exit codes, and the error that maps to "cannot work here" (exit 3).

::

    0    completed (the run, or the command)
    1    failed: the run failed or was cancelled, or the input/workflow is invalid
    2    usage: bad command-line arguments (argparse)
    3    unavailable: Temporal cannot be reached, or the configuration is wrong
    130  interrupted (Ctrl-C / SIGTERM)
    141  the reader closed the pipe (``... | head``), as for any Unix tool
"""

from __future__ import annotations

from enum import IntEnum

from interpreter.errors import OrchestratorError

__all__ = ["ExitCode", "SetupError"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNAVAILABLE = 3
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class SetupError(OrchestratorError):
    """Nothing ran because of where we run: Temporal is unreachable, a setting is wrong.

    Distinct from a failed run (exit 1) so scripts can tell "retry later / fix the
    environment" from "the workflow failed".
    """

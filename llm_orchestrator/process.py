"""Process-wide set-up and teardown of a CLI command: observability, and a clean exit.

Why :func:`exit_process` exists: the Temporal SDK's Rust runtime keeps native
threads that may still hold Python thread states while the interpreter finalizes;
then CPython aborts with ``Fatal Python error: PyGILState_Release`` and exit code
134 (temporalio/sdk-python#300). Measured here before the fix: 5 of 12 `start`
calls against a dead address aborted. The CLI has finished its work and
released what it owns (workers stopped, dev server stopped, telemetry flushed)
by the time :func:`exit_process` runs, so it flushes the standard streams and
logging and leaves with ``os._exit``, skipping the finalization that races.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from llm_orchestrator.options import LogOptions

if TYPE_CHECKING:
    from llm_orchestrator.observability import Observability

__all__ = ["exit_process", "observe"]


def observe(logs: LogOptions, service: str) -> Observability:
    """Logging, tracing and metrics for this process, before anything connects."""
    # imported here: every command ends through exit_process, few need telemetry
    from llm_orchestrator import observability
    from llm_orchestrator.logs import configure_logging

    configure_logging(logs.log_format, logs.log_level)
    return observability.setup(metrics_bind=logs.metrics_bind, service_name=service)


def exit_process(code: int) -> NoReturn:
    """Flush what was written, then end the process at once with ``code``."""
    # `--help` and `validate` never import logging (~5 ms): then it holds nothing to flush
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a reader that went away (`| head`) cannot be flushed to; the code still stands
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)

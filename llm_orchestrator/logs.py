"""Process logging for workers and the CLI: text or JSON lines, with run ids, secrets redacted.

Every record gets the ids of the run it belongs to when there is one: workflow
id, run id, workflow type and task queue from the Temporal SDK's workflow and
activity context, and inside a step activity the step id, step type and
attempt (``activities.telemetry``), plus the trace and span ids when tracing
is on. A redaction filter on the handler removes API keys before anything is
written: the values of ``*_API_KEY`` (and ``*_SECRET``, ``*_TOKEN``,
``*_PASSWORD``) environment variables, keys the providers read from secret
files, and anything shaped like ``sk-...``, ``sk-ant-...`` or ``Bearer <token>``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from opentelemetry import trace
from temporalio import activity, workflow

from activities.redaction import env_secrets, redact, remember_env
from activities.telemetry import current_step

__all__ = [
    "JsonFormatter",
    "RedactSecrets",
    "RunContext",
    "TextFormatter",
    "configure_logging",
]

LogFormat = Literal["text", "json"]

_CONTEXT_FIELDS = (
    "workflow_id",
    "run_id",
    "workflow_type",
    "task_queue",
    "namespace",
    "activity_type",
    "activity_id",
    "step_id",
    "step_type",
    "attempt",
    "trace_id",
    "span_id",
)


class RedactSecrets(logging.Filter):
    """Mask secrets in a record's message, arguments and traceback (put it on handlers).

    Besides every secret the process knows (:mod:`activities.redaction`), the
    secret-named variables of ``env`` are masked.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._secrets = env_secrets(env or {})

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        try:
            message = record.getMessage()
        except Exception:  # a bad format string; log it unformatted rather than lose it
            message = str(record.msg)
        cleaned = redact(message, secrets)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


class RunContext(logging.Filter):
    """Attach ``record.run_context``: the ids of the run, step and trace the record belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        context: dict[str, Any] = {}
        details = getattr(record, "temporal_activity", None)
        if details is None and activity.in_activity():
            info = activity.info()
            details = {
                "workflow_id": info.workflow_id,
                "workflow_run_id": info.workflow_run_id,
                "workflow_type": info.workflow_type,
                "task_queue": info.task_queue,
                "namespace": info.namespace,
                "activity_type": info.activity_type,
                "activity_id": info.activity_id,
                "attempt": info.attempt,
            }
        if isinstance(details, Mapping):
            context.update(
                workflow_id=details.get("workflow_id"),
                run_id=details.get("workflow_run_id"),
                workflow_type=details.get("workflow_type"),
                task_queue=details.get("task_queue"),
                namespace=details.get("namespace"),
                activity_type=details.get("activity_type"),
                activity_id=details.get("activity_id"),
                attempt=details.get("attempt"),
            )
        workflow_details = getattr(record, "temporal_workflow", None)
        if isinstance(workflow_details, Mapping):
            context.update(
                workflow_id=workflow_details.get("workflow_id"),
                run_id=workflow_details.get("run_id"),
                workflow_type=workflow_details.get("workflow_type"),
                task_queue=workflow_details.get("task_queue"),
                namespace=workflow_details.get("namespace"),
            )
        step = current_step()
        if step is not None:
            context.update(step_id=step.step_id, step_type=step.step_type, attempt=step.attempt)
        elif isinstance(step_id := getattr(record, "step_id", None), str):
            # a step computed in the workflow names itself in the record (a `log` action)
            context.update(step_id=step_id, step_type=getattr(record, "step_type", None))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            context.update(trace_id=f"{span.trace_id:032x}", span_id=f"{span.span_id:016x}")
        record.run_context = {k: v for k, v in context.items() if v is not None}
        return True


def _context(record: logging.LogRecord) -> dict[str, Any]:
    context = getattr(record, "run_context", None)
    return context if isinstance(context, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the run's ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context(record)
        entry.update((k, context[k]) for k in _CONTEXT_FIELDS if k in context)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message [workflow_id=... run_id=... step_id=... attempt=...]``."""

    _SHOWN = ("workflow_id", "run_id", "step_id", "attempt", "trace_id")

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context(record)
        shown = " ".join(f"{k}={context[k]}" for k in self._SHOWN if k in context)
        if not shown:
            return text
        head, sep, rest = text.partition("\n")
        return f"{head} [{shown}]{sep}{rest}"


_HANDLER_NAME = "llm-orchestrator"


def configure_logging(
    fmt: LogFormat = "text",
    level: str | int = "INFO",
    *,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Install (or replace) our handler on the root logger and return it.

    The secret-named variables of ``env`` (default: the process environment, read
    here once) are masked from then on; keys read later by providers and stores
    are masked as they are read.
    """
    remember_env(os.environ if env is None else env)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    # order matters: ids first, then redaction of the finished message
    handler.addFilter(RunContext())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)  # warnings too, so JSON output stays JSON
    # the ids travel as fields; do not also append the SDK's info dict to every message
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    return handler

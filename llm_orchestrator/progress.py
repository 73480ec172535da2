"""What the CLI prints about runs: live step lines, results, status, lists.

Data goes to stdout (outputs, ``--json`` documents, status, lists); narration
(progress, hints) goes to stderr, so ``run ... > out.txt`` keeps only the answer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, FailureError

from interpreter.contract import Progress, RunResult, StepRecord, TokenBatch, Usage

__all__ = [
    "Reporter",
    "RunStatus",
    "failure_text",
    "print_json",
    "print_outputs",
    "print_runs",
    "print_status",
    "records_of",
    "run_summary",
    "step_line",
]

_MARKS = {
    "completed": "✓",
    "reused": "↺",
    "failed": "✗",
    "skipped": "–",
    "running": "…",
    "pending": "·",
}


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str), flush=True)


@dataclass
class Reporter:
    """Narration on stderr: one line per step as it settles, unless ``quiet``; and the live
    tokens of streamed steps as they arrive, on ``token_out`` (stderr unless said)."""

    quiet: bool = False
    token_out: TextIO | None = None
    _seen: dict[str, str] = field(default_factory=dict)
    _speaker: tuple[str, str, int] | None = None
    _mid_line: bool = False

    def say(self, text: str) -> None:
        if not self.quiet:
            self.tell(text)

    def tell(self, text: str) -> None:
        """What the user must see even with ``--quiet``: failures, what to do next."""
        if self._shares_screen():  # a line of its own; the tokens go on under their name
            self.end_tokens()
            self._speaker = None
        print(text, file=sys.stderr, flush=True)

    def _shares_screen(self) -> bool:
        """Whether tokens and narration end up on the same screen (or file)."""
        out = self.token_out
        return out is None or out is sys.stderr or (out.isatty() and sys.stderr.isatty())

    def tokens(self, batch: TokenBatch, *, top: str) -> None:
        """Print a batch of a streamed step's text where the last one stopped; a step other
        than the last one (or its next attempt) starts a new line with its name:
        ``summarize › The report says…``. ``top``: the workflow id followed, so that a
        step of a child run is named by its path below it (``each/batch-0/item_3``)."""
        if self.quiet:
            return
        out = self.token_out or sys.stderr
        speaker = (batch.run, batch.step, batch.attempt)
        if speaker != self._speaker:
            self.end_tokens()
            below = batch.run.removeprefix(top).lstrip("/") if batch.run != top else ""
            name = f"{below}/{batch.step}" if below else batch.step
            again = f" (attempt {batch.attempt})" if batch.attempt > 1 else ""
            out.write(f"{name}{again} › ")
            self._speaker, self._mid_line = speaker, True
        if batch.text:
            out.write(batch.text)
            self._mid_line = not batch.text.endswith("\n")
        if batch.done:
            self.end_tokens()
            self._speaker = None
        out.flush()

    def end_tokens(self) -> None:
        """End a line of tokens left open, so that what follows starts a line of its own."""
        if self._mid_line:
            out = self.token_out or sys.stderr
            out.write("\n")
            out.flush()
            self._mid_line = False

    def steps(self, progress: Progress) -> None:
        """Print the steps whose status changed since the last call (pending ones never)."""
        for step_id, record in progress.steps.items():
            if self._seen.get(step_id) == record.status or record.status == "pending":
                continue
            self._seen[step_id] = record.status
            self.say(step_line(record))


def step_line(record: StepRecord, *, width: int = 0, attempts: bool = False) -> str:
    """``✓ classify completed (412 ms, 2 attempts, 96 tokens $0.0001) — reason``.

    Attempts show when there was more than one, or always with ``attempts``.
    """
    details: list[str] = []
    if record.duration_ms is not None and record.status in ("completed", "failed"):
        details.append(_duration(record.duration_ms))
    if record.status == "running" and record.attempts:
        details.append(f"attempt {record.attempts}")
    elif record.attempts > 1 or (attempts and record.attempts):
        details.append(f"{record.attempts} attempt" + ("s" if record.attempts > 1 else ""))
    if record.usage and (record.usage.input_tokens or record.usage.output_tokens):
        details.append(_usage(record.usage))
    text = f"{_MARKS.get(record.status, '?')} {record.id.ljust(width)} {record.status}"
    if details:
        text += f" ({', '.join(details)})"
    if record.reason:
        text += f" — {record.reason}"
    if record.error:
        text += f" — {record.error}"
    return text


def records_of(result: RunResult) -> dict[str, StepRecord]:
    """The step records a result carries: full ones if it has them, else the statuses alone
    (the full records come from the ``progress`` query)."""
    if result.steps:
        return dict(result.steps)
    return {
        step_id: StepRecord(id=step_id, type="", status=s) for step_id, s in result.status.items()
    }


def run_summary(result: RunResult) -> str:
    """``sentiment-analysis v1.0 completed in 1.3 s · 3 steps · 130 tokens $0.0002``."""
    counts: dict[str, int] = {}
    for status in result.statuses().values():
        counts[status] = counts.get(status, 0) + 1
    steps = ", ".join(f"{n} {status}" for status, n in counts.items())
    text = f"{result.workflow} v{result.version} completed in {_duration(result.duration_ms)}"
    text += f" · steps: {steps}" if steps else ""
    if result.usage.input_tokens or result.usage.output_tokens:
        text += f" · {_usage(result.usage)}"
    return text


def print_outputs(outputs: Mapping[str, Any]) -> None:
    """The run's outputs on stdout, readably: ``name: value``, long text indented below."""
    if not outputs:
        print("(no outputs)", flush=True)
        return
    for name, value in outputs.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        if "\n" in text.strip():
            print(f"{name}:")
            for line in text.strip("\n").splitlines():
                print(f"  {line}")
        else:
            print(f"{name}: {text}")
    sys.stdout.flush()


def failure_text(exc: WorkflowFailureError) -> str:
    """The first cause a person can act on, not the chain of wrappers around it."""
    cause: BaseException | None = exc.cause
    parts: list[str] = []
    while isinstance(cause, FailureError):
        if isinstance(cause, ApplicationError) or not parts:
            parts.append(cause.message)
        cause = cause.cause
    return parts[0] if parts else str(exc)


@dataclass(frozen=True)
class RunStatus:
    """What `status` knows about one run: Temporal's view plus the `progress` query."""

    workflow_id: str
    run_id: str
    state: str
    """Temporal's execution status, lower-case: running, completed, failed, canceled ..."""
    task_queue: str
    started_at: str | None
    closed_at: str | None
    ui_url: str | None
    progress: Progress | None
    """``None`` when no worker answered the query and no result is available."""
    waiting_for: tuple[str, ...] = ()
    note: str | None = None
    rerun_of: Mapping[str, str] | None = None
    """The run this one reruns (``workflow_id``, ``run_id``: its memo), if it is a rerun."""

    def as_dict(self) -> dict[str, Any]:
        progress = self.progress
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "state": self.state,
            "task_queue": self.task_queue,
            "started_at": self.started_at,
            "closed_at": self.closed_at,
            "ui_url": self.ui_url,
            "workflow": progress.workflow if progress else None,
            "version": progress.version if progress else None,
            "steps": {k: v.model_dump(mode="json") for k, v in progress.steps.items()}
            if progress
            else None,
            "usage": progress.usage.model_dump(mode="json") if progress else None,
            "waiting_for": list(self.waiting_for),
            "note": self.note,
            "rerun_of": dict(self.rerun_of) if self.rerun_of else None,
        }


def print_status(status: RunStatus) -> None:
    """`status` as aligned lines on stdout."""
    progress = status.progress
    rows: list[tuple[str, str]] = [("run", f"{status.workflow_id} (run id {status.run_id})")]
    if progress and progress.workflow:
        rows.append(("workflow", f"{progress.workflow} v{progress.version}"))
    rows.append(("state", status.state))
    if status.started_at:
        rows.append(("started", status.started_at))
    if status.closed_at:
        rows.append(("closed", status.closed_at))
    rows.append(("task queue", status.task_queue))
    if status.rerun_of:
        old = status.rerun_of
        rows.append(("rerun of", f"{old.get('workflow_id')} (run id {old.get('run_id')})"))
    if status.ui_url:
        rows.append(("Web UI", status.ui_url))
    if progress:
        rows.append(("usage", _usage(progress.usage) if _has_usage(progress.usage) else "none"))
    for label, value in rows:
        print(f"{label:<11} {value}")
    if progress and progress.steps:
        print("steps")
        width = max(len(step_id) for step_id in progress.steps)
        for record in progress.steps.values():
            print(f"  {step_line(record, width=width, attempts=True)}")
    for item in status.waiting_for:
        print(f"waits for   {item}")
    if status.note:
        print(f"note        {status.note}")
    sys.stdout.flush()


def print_runs(rows: Iterable[Mapping[str, Any]]) -> None:
    """`list` as a table on stdout."""
    rows = list(rows)
    if not rows:
        print("no runs", flush=True)
        return
    header = ("WORKFLOW ID", "STATUS", "STARTED", "CLOSED")
    table = [header] + [
        (r["workflow_id"], r["status"], r["started_at"] or "", r["closed_at"] or "") for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    sys.stdout.flush()


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _has_usage(usage: Usage) -> bool:
    return bool(usage.input_tokens or usage.output_tokens or usage.cost_usd)


def _usage(usage: Usage) -> str:
    text = f"{usage.input_tokens}+{usage.output_tokens} tokens"
    return text + (f" ${usage.cost_usd:.4f}" if usage.cost_usd else "")

"""The pure scheduler that walks a :class:`~interpreter.dag.Dag`, and the run's state.

:class:`Scheduler` is the one owner of every step's state (status, skip reason,
output, attempts, timing, usage, error). The workflow reports events to it; the
progress query, the run's result (:meth:`StepState.record`) and the template
context (:class:`~interpreter.context.TemplateContext`) are derived from it, never
written separately. On each event it re-examines only the neighbours of what
changed, so a run of *n* steps costs O(n + edges) in total. No Temporal imports:
the clock is injected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from interpreter.contract import AnsweredBy, StepRecord, Usage
from interpreter.dag import Dag, Node
from interpreter.fields import TriggerRule
from interpreter.steps import DecisionKind, GroupKind

__all__ = ["Decision", "Scheduler", "Status", "StepState", "bind_outputs"]


def bind_outputs(names: Sequence[str], output: Any, extras: Sequence[Any]) -> dict[str, Any]:
    """Bind ``output:`` names positionally: the first to the primary output, then the extras."""
    values = [output, *extras]
    return {name: values[i] if i < len(values) else None for i, name in enumerate(names)}


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    REUSED = "reused"
    """Taken from an earlier run by a rerun: counts as completed everywhere."""
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.REUSED, Status.SKIPPED, Status.FAILED)

    @property
    def succeeded(self) -> bool:
        """Completed, here or in the run a rerun reuses it from."""
        return self in (Status.COMPLETED, Status.REUSED)


@dataclass(slots=True)
class StepState:
    """Everything known about one step of a run; owned by the :class:`Scheduler`."""

    status: Status = Status.PENDING
    reason: str | None = None
    """Why it was skipped (or how it completed without running, e.g. mocked)."""
    error: str | None = None
    output: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    usage: Usage | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    answered_by: AnsweredBy | None = None
    repairs: int = 0
    transcript: dict[str, Any] | None = None

    def record(self, step_id: str, step_type: str) -> StepRecord:
        """The state as the ``progress`` query and the run's result show it."""
        duration = (
            int((self.ended_at - self.started_at).total_seconds() * 1000)
            if self.started_at and self.ended_at
            else None
        )
        return StepRecord(
            id=step_id,
            type=step_type,
            status=self.status.value,
            output=self.output,
            outputs=self.outputs,
            attempts=self.attempts,
            started_at=self.started_at.isoformat() if self.started_at else None,
            ended_at=self.ended_at.isoformat() if self.ended_at else None,
            duration_ms=duration,
            usage=self.usage,
            error=self.error,
            reason=self.reason,
            errors=self.errors,
            answered_by=self.answered_by,
            repairs=self.repairs,
            transcript=self.transcript,
        )


@dataclass(slots=True)
class Decision:
    """What changed after an event: steps to start, steps skipped, containers finished."""

    start: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    finished: list[tuple[str, Status]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.start or self.skipped or self.finished)

    def merge(self, other: Decision) -> Decision:
        self.start += other.start
        self.skipped += other.skipped
        self.finished += other.finished
        return self


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)


class Scheduler:
    """Pure, incremental scheduler over a :class:`Dag`, and the owner of its steps' state.

    The caller starts what :attr:`Decision.start` lists, then reports back with
    :meth:`running`, :meth:`complete`, :meth:`fail`, :meth:`finish` or :meth:`choose`
    (for decisions), each of which returns the next :class:`Decision`. Containers are
    started like any step (report :meth:`running`); the scheduler finishes them itself.
    """

    def __init__(self, dag: Dag, *, clock: Callable[[], datetime] = _epoch) -> None:
        self.dag = dag
        self.steps: dict[str, StepState] = {node_id: StepState() for node_id in dag.nodes}
        self.choices: dict[str, str] = {}
        self._clock = clock
        self._offered: set[str] = set()
        self._active_children: dict[str, int] = {}

    @property
    def status(self) -> Mapping[str, Status]:
        """Each step's status (a snapshot)."""
        return {node_id: state.status for node_id, state in self.steps.items()}

    @property
    def done(self) -> bool:
        return all(state.status.terminal for state in self.steps.values())

    def records(self) -> dict[str, StepRecord]:
        return {
            node_id: state.record(node_id, self.dag.nodes[node_id].step.type)
            for node_id, state in self.steps.items()
        }

    def initial(self) -> Decision:
        return self._settle(list(self.dag.nodes))

    def running(self, node_id: str) -> Decision:
        state = self.steps[node_id]
        state.status = Status.RUNNING
        state.started_at = state.started_at or self._clock()
        return self._settle(self._neighbours(node_id))

    def choose(self, decision_id: str, case: str) -> Decision:
        """Record a decision's chosen case (the step must be running); it is its output."""
        self.choices[decision_id] = case
        state = self.steps[decision_id]
        state.output = case
        state.outputs = bind_outputs(self.dag.nodes[decision_id].step.output, case, [])
        return self._settle([*self._neighbours(decision_id), decision_id])

    def complete(
        self,
        node_id: str,
        output: Any,
        *,
        extras: Sequence[Any] = (),
        usage: Usage | None = None,
        attempts: int = 0,
        note: str = "",
        errors: Sequence[dict[str, Any]] = (),
        answered_by: AnsweredBy | None = None,
        repairs: int = 0,
        transcript: dict[str, Any] | None = None,
    ) -> Decision:
        """A leaf step succeeded with ``output`` (and extra positional outputs); ``note`` says
        how, when it did not run as usual (e.g. mocked); ``answered_by`` which model answered
        (model steps) and ``repairs`` how many repair turns that took."""
        state = self.steps[node_id]
        state.output = output
        state.outputs = bind_outputs(self.dag.nodes[node_id].step.output, output, extras)
        state.attempts = attempts
        state.usage = usage
        state.errors = list(errors)
        state.answered_by = answered_by
        state.repairs = repairs
        state.transcript = transcript
        return self.finish(node_id, Status.COMPLETED, note)

    def reuse(
        self,
        node_id: str,
        output: Any,
        *,
        extras: Sequence[Any] = (),
        note: str,
        transcript: dict[str, Any] | None = None,
    ) -> Decision:
        """A leaf step takes its result from an earlier run (a rerun): status ``reused``, no
        usage (it was paid for there; ``note`` may say how much)."""
        state = self.steps[node_id]
        state.output = output
        state.transcript = transcript
        state.outputs = bind_outputs(self.dag.nodes[node_id].step.output, output, extras)
        return self.finish(node_id, Status.REUSED, note)

    def fail(
        self,
        node_id: str,
        error: str,
        *,
        attempts: int = 0,
        usage: Usage | None = None,
        transcript: dict[str, Any] | None = None,
    ) -> Decision:
        """A step failed and the run goes on without it (``continue_on_error``)."""
        self.mark(
            node_id,
            Status.FAILED,
            error=error,
            attempts=attempts,
            usage=usage,
            transcript=transcript,
        )
        return self._settle(self._neighbours(node_id))

    def mark(
        self,
        node_id: str,
        status: Status,
        *,
        reason: str = "",
        error: str | None = None,
        attempts: int = 0,
        usage: Usage | None = None,
        transcript: dict[str, Any] | None = None,
    ) -> None:
        """Record a step's end without scheduling anything after it: the run is ending.
        ``usage``: what a failed step spent all the same (a model's rejected replies);
        ``transcript``: a failed agent's conversation so far."""
        state = self.steps[node_id]
        if error is not None:
            state.error = error
        if usage is not None:
            state.usage = usage
        if transcript is not None:
            state.transcript = transcript
        state.attempts = max(attempts, state.attempts)
        self._set_terminal(node_id, status, reason)

    def finish(self, node_id: str, status: Status, reason: str = "") -> Decision:
        """Record a step's end (completed, failed, or skipped with ``reason``)."""
        self._set_terminal(node_id, status, reason)
        return self._settle(self._neighbours(node_id))

    def abort(self, why: str) -> None:
        """Mark every running step failed: the run is ending without them."""
        for state in self.steps.values():
            if state.status == Status.RUNNING:
                state.status = Status.FAILED
                state.error = f"cancelled: {why}"
                state.ended_at = self._clock()

    def _set_terminal(self, node_id: str, status: Status, reason: str = "") -> None:
        state = self.steps[node_id]
        previous = state.status
        state.status = status
        state.ended_at = self._clock()
        if reason:
            state.reason = reason
        parent = self.dag.nodes[node_id].parent
        if parent is not None and node_id in self._offered and not previous.terminal:
            self._active_children[parent] -= 1

    def _neighbours(self, node_id: str) -> list[str]:
        node = self.dag.nodes[node_id]
        out = list(self.dag.dependents[node_id])
        if node.parent is not None and self._limit(node.parent) is not None:
            out.extend(self.dag.nodes[node.parent].children)
        return out

    def _limit(self, container: str) -> int | None:
        node = self.dag.nodes[container]
        kind = node.kind
        return kind.max_concurrency(node.step) if isinstance(kind, GroupKind) else None

    def _settle(self, candidates: Sequence[str]) -> Decision:
        decision = Decision()
        work = deque(candidates)
        seen_in_pass: set[str] = set()
        while work:
            node_id = work.popleft()
            status = self.steps[node_id].status
            node = self.dag.nodes[node_id]
            if status == Status.PENDING and node_id not in self._offered:
                verdict, reason = self._evaluate(node)
                if verdict == "skip":
                    self._set_terminal(node_id, Status.SKIPPED, reason)
                    decision.skipped.append((node_id, reason))
                    work.extend(self._neighbours(node_id))
                elif verdict == "ready":
                    self._offered.add(node_id)
                    decision.start.append(node_id)
                    if node.parent is not None:
                        # counted from the offer on, so one settle cannot over-commit a group
                        self._active_children[node.parent] = (
                            self._active_children.get(node.parent, 0) + 1
                        )
            elif status == Status.RUNNING and node_id not in seen_in_pass:
                finished = self._container_result(node)
                if finished is not None:
                    seen_in_pass.add(node_id)
                    self._finish_container(node, finished)
                    decision.finished.append((node_id, finished))
                    work.extend(self._neighbours(node_id))
        return decision

    def _finish_container(self, node: Node, status: Status) -> None:
        kind = node.kind
        if isinstance(kind, GroupKind):
            state = self.steps[node.id]
            state.output = kind.output({c: self.steps[c].output for c in node.children})
            state.outputs = bind_outputs(node.step.output, state.output, [])
        self._set_terminal(node.id, status)

    def _evaluate(self, node: Node) -> tuple[str, str]:
        steps = self.steps
        if node.parent is not None:
            parent_status = steps[node.parent].status
            if parent_status in (Status.SKIPPED, Status.FAILED):
                return "skip", f"`{node.parent}` was {parent_status.value}"
            if parent_status == Status.PENDING:
                return "wait", ""
        if node.guard is not None:
            branch_id, cases = node.guard
            branch_status = steps[branch_id].status
            if branch_status in (Status.SKIPPED, Status.FAILED):
                return "skip", f"branch `{branch_id}` was {branch_status.value}"
            choice = self.choices.get(branch_id)
            if choice is None:
                return "wait", ""
            if choice not in cases:
                return "skip", f"branch `{branch_id}` chose `{choice}`"
        deps = [steps[d].status for d in node.deps if d in steps]
        rule = node.step.trigger_rule
        if rule == TriggerRule.ALL_SUCCESS:
            for dep_id in node.deps:
                dep = steps.get(dep_id)
                if dep is not None and dep.status in (Status.SKIPPED, Status.FAILED):
                    return "skip", f"dependency `{dep_id}` was {dep.status.value}"
            if not all(s.succeeded for s in deps):
                return "wait", ""
        else:
            if not all(s.terminal for s in deps):
                return "wait", ""
            if rule == TriggerRule.ONE_SUCCESS and deps and not any(s.succeeded for s in deps):
                return "skip", "no dependency completed (trigger_rule one_success)"
        if node.parent is not None:
            limit = self._limit(node.parent)
            if limit is not None and self._active_children.get(node.parent, 0) >= limit:
                return "wait", ""
        return "ready", ""

    def _container_result(self, node: Node) -> Status | None:
        """A running group or decision finishes once its children have (and it has chosen)."""
        is_decision = isinstance(node.kind, DecisionKind)
        if not node.children and not is_decision:
            return None  # a running leaf: its activity reports its end
        if not all(self.steps[c].status.terminal for c in node.children):
            return None
        if is_decision and node.id not in self.choices:
            return None
        return Status.COMPLETED

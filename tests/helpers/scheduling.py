"""Drive the pure :class:`~interpreter.dag.Scheduler` through a whole run, no Temporal.

Every ready step is started at once; running leaves then finish one at a time, oldest
first. ``failures`` names leaves that fail, ``choices`` the case each branch takes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from interpreter.dag import Dag
from interpreter.loader import load_text
from interpreter.models import BranchStep, ParallelStep
from interpreter.scheduler import Decision, Scheduler, Status


@dataclass
class Run:
    scheduler: Scheduler
    executed: list[str] = field(default_factory=list)
    max_running: dict[str, int] = field(default_factory=dict)
    """Most children of each parallel group that were running at once."""

    def status(self, step_id: str) -> str:
        return self.scheduler.status[step_id].value

    def statuses(self) -> dict[str, str]:
        return {k: v.value for k, v in self.scheduler.status.items()}


def simulate(
    yaml_text: str,
    *,
    choices: Mapping[str, str] | None = None,
    failures: set[str] | frozenset[str] = frozenset(),
) -> Run:
    """Run the workflow to the end and return what happened."""
    dag = Dag.build(load_text(yaml_text))
    scheduler = Scheduler(dag)
    run = Run(scheduler)
    ready: deque[str] = deque()
    running: list[str] = []

    def absorb(decision: Decision) -> None:
        ready.extend(decision.start)

    def note_concurrency() -> None:
        counts: dict[str, int] = {}
        for step_id in running:
            parent = dag.nodes[step_id].parent
            if parent is not None:
                counts[parent] = counts.get(parent, 0) + 1
        for parent, count in counts.items():
            run.max_running[parent] = max(run.max_running.get(parent, 0), count)

    absorb(scheduler.initial())
    while ready or running:
        while ready:
            step_id = ready.popleft()
            absorb(scheduler.running(step_id))
            step = dag.nodes[step_id].step
            if isinstance(step, BranchStep):
                absorb(scheduler.choose(step_id, (choices or {})[step_id]))
            elif not isinstance(step, ParallelStep):
                running.append(step_id)
        note_concurrency()
        if running:
            step_id = running.pop(0)
            run.executed.append(step_id)
            status = Status.FAILED if step_id in failures else Status.COMPLETED
            absorb(scheduler.finish(step_id, status))
    return run

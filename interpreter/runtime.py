"""The durable primitives `DagWorkflow` lends to in-workflow step kinds.

Workflow code (deterministic): timers, signals, Updates and child workflows, each
through the Temporal SDK, so a run waiting days for a person or a timer survives
worker restarts and replays exactly. :class:`Mailbox` holds what arrives from
outside (signals, decisions) and what the run waits for; :class:`StepRuntime` is
one step's view of it (:class:`~interpreter.steps.Runtime`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.workflow import ParentClosePolicy

from interpreter import defaults as code_defaults
from interpreter.contract import (
    UPDATE_APPROVE,
    WORKFLOW_TYPE,
    Decision,
    RunInput,
    RunResult,
    Scope,
    Usage,
    Waiting,
)
from interpreter.errors import ERROR_CIRCUIT_OPEN
from interpreter.fields import Defaults, RetryPolicy
from interpreter.steps import RunFacts
from interpreter.steps._kind import ActivityChain, ChainAnswer, Heartbeat, cause_message
from interpreter.templates import Reads, is_template, reads

__all__ = [
    "Mailbox",
    "StepRuntime",
    "budget_decision",
    "cause_message",
    "heartbeat_timeout",
    "inputs_read",
    "retry_policy",
]


class Mailbox:
    """Signals and decisions that reached the run, and what its steps wait for."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.signals: dict[str, deque[Any]] = {}
        self.decisions: dict[str, Decision] = {}
        self.waiting: dict[str, Waiting] = {}
        self.checks: dict[str, Callable[[Decision], str | None]] = {}
        """Extra checks of a decision, by step (a budget pause: the raised limit)."""
        self._on_change = on_change

    def deliver_signal(self, name: str, payload: Any) -> None:
        self.signals.setdefault(name, deque()).append(payload)

    def check_decision(self, decision: Decision) -> str | None:
        """Why ``decision`` cannot be taken (``None``: it can)."""
        waiting = self.waiting.get(decision.step)
        if decision.step in self.decisions:
            return f"step `{decision.step}` was already decided"
        if waiting is None or waiting.kind != "approval":
            asked = sorted(s for s, w in self.waiting.items() if w.kind == "approval")
            return f"step `{decision.step}` is not waiting for an approval" + (
                f" (waiting: {', '.join(asked)})" if asked else " (no step is waiting)"
            )
        check = self.checks.get(decision.step)
        return check(decision) if check is not None else None

    def decide(self, decision: Decision) -> None:
        self.decisions[decision.step] = decision

    def wait_for(self, waiting: Waiting) -> None:
        self.waiting[waiting.step] = waiting
        self._on_change()

    def done_waiting(self, step_id: str) -> None:
        self.waiting.pop(step_id, None)
        self._on_change()


class StepRuntime:
    """One step's durable primitives (see :class:`~interpreter.steps.Runtime`)."""

    def __init__(
        self,
        *,
        step_id: str,
        facts: RunFacts,
        context: Mapping[str, Any],
        outer: Callable[[str], dict[str, Any] | None],
        step_roots: Mapping[str, Any],
        mailbox: Mailbox,
        label: str,
        within_budget: Callable[[Usage, str], Awaitable[None]] | None = None,
        before_child: Callable[[Usage], Awaitable[None]] | None = None,
        walk: Callable[..., Awaitable[ChainAnswer]] | None = None,
    ) -> None:
        self._step_id = step_id
        self._label = label
        self._facts = facts
        self._context = context
        self._outer = outer
        self._step_roots = step_roots
        self._mailbox = mailbox
        self._within_budget = within_budget
        self._before_child = before_child
        self._spent = Usage()
        """What this step's finished body runs spent (its budget counts it)."""
        self._walk = walk

    @property
    def facts(self) -> RunFacts:
        return self._facts

    @property
    def step_id(self) -> str:
        return self._step_id

    @property
    def label(self) -> str:
        return self._label

    def context(self) -> Mapping[str, Any]:
        return self._context

    def inputs_for_body(self, sources: Any) -> dict[str, Any]:
        return inputs_read(sources, self._context["inputs"])

    def scope_for_body(self, sources: Any) -> Scope:
        steps: dict[str, dict[str, Any]] = {}
        for ref in sorted(_referenced_steps(sources)):
            snapshot = self._outer(ref)
            if snapshot is not None:
                steps[ref] = snapshot
        return Scope(roots=dict(self._step_roots), steps=steps)

    async def sleep(self, seconds: float) -> None:
        await workflow.sleep(seconds)

    async def signal(self, name: str, timeout: float | None) -> tuple[bool, Any]:
        box = self._mailbox
        waiting = Waiting(step=self._step_id, kind="signal", name=name)
        if not await self._wait(waiting, lambda: bool(box.signals.get(name)), timeout):
            return False, None
        return True, box.signals[name].popleft()

    async def decision(self, message: str, timeout: float | None) -> Decision | None:
        box = self._mailbox
        box.decisions.pop(self._step_id, None)  # a step may ask again (an agent's tool calls)
        waiting = Waiting(step=self._step_id, kind="approval", name=UPDATE_APPROVE, message=message)
        if not await self._wait(waiting, lambda: self._step_id in box.decisions, timeout):
            return None
        return box.decisions[self._step_id]

    async def _wait(
        self, waiting: Waiting, arrived: Callable[[], bool], timeout: float | None
    ) -> bool:
        """Show ``waiting`` while waiting for ``arrived``; ``False`` if the timeout passed."""
        box = self._mailbox
        since = workflow.now().isoformat()
        box.wait_for(waiting.model_copy(update={"since": since, "timeout_s": timeout}))
        try:
            await workflow.wait_condition(arrived, timeout=timeout)
        except TimeoutError:
            return False
        finally:
            box.done_waiting(self._step_id)
        return True

    async def within_budget(self, spent: Usage, *, before: str) -> None:
        if self._within_budget is not None:
            await self._within_budget(spent, before)

    async def activity(
        self,
        name: str,
        payload: Any,
        *,
        summary: str,
        timeout: float,
        retry: RetryPolicy,
        result_type: type | None = None,
        heartbeat: Heartbeat = "while_waiting",
    ) -> Any:
        return await workflow.execute_activity(
            name,
            payload,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=timeout),
            retry_policy=retry_policy(retry),
            heartbeat_timeout=heartbeat_timeout(heartbeat, self._facts.defaults, timeout),
            summary=summary,
        )

    async def walk(
        self,
        chain: ActivityChain,
        *,
        summary: str,
        timeout: float,
        retry: RetryPolicy,
        result_type: type | None = None,
    ) -> ChainAnswer:
        assert self._walk is not None, "the workflow lends its chain walker"
        return await self._walk(
            chain, summary=summary, timeout=timeout, policy=retry, result_type=result_type
        )

    async def child(self, request: RunInput, *, suffix: str, label: str) -> RunResult:
        if self._before_child is not None:
            await self._before_child(self._spent)
        info = workflow.info()
        result: RunResult = await workflow.execute_child_workflow(
            WORKFLOW_TYPE,
            request,
            id=f"{info.workflow_id}/{self._step_id}{suffix}",
            task_queue=info.task_queue,
            result_type=RunResult,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            static_summary=label,
            execution_timeout=None,
            run_timeout=None,
            task_timeout=timedelta(seconds=10),
        )
        self._spent = self._spent + result.usage
        return result

    async def children(
        self, requests: Sequence[tuple[RunInput, str, str]], *, concurrency: int
    ) -> list[RunResult]:
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(request: RunInput, suffix: str, label: str) -> RunResult:
            async with gate:
                return await self.child(request, suffix=suffix, label=label)

        tasks = [asyncio.create_task(one(*r)) for r in requests]
        try:
            await workflow.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            unfinished = [t for t in tasks if not t.done()]
            for task in unfinished:
                task.cancel()
            if unfinished:
                await workflow.wait(unfinished)
        for task in tasks:  # the first failure, in the order asked (not a cancelled sibling)
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]


def heartbeat_timeout(heartbeat: Heartbeat, defaults: Defaults, timeout: float) -> timedelta | None:
    """How long an attempt may stay silent before Temporal presumes its worker dead."""
    if heartbeat is None:
        return None
    if heartbeat == "per_chunk":
        seconds = code_defaults.STREAM_HEARTBEAT_SECONDS
    else:
        seconds = defaults.heartbeat_timeout or code_defaults.HEARTBEAT_TIMEOUT_SECONDS
    return timedelta(seconds=min(seconds, timeout / 2))


def retry_policy(policy: RetryPolicy, *, fallback_next: bool = False) -> TemporalRetryPolicy:
    """Temporal's policy for ``policy``. With a fallback after it, an open circuit breaker
    ends the attempts at once: the next model is tried instead of waiting for a probe."""
    non_retryable = list(policy.non_retryable_errors)
    if fallback_next:
        non_retryable.append(ERROR_CIRCUIT_OPEN)
    return TemporalRetryPolicy(
        initial_interval=timedelta(seconds=policy.initial_interval),
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=(
            timedelta(seconds=policy.max_interval) if policy.max_interval is not None else None
        ),
        maximum_attempts=policy.max_attempts,
        non_retryable_error_types=non_retryable or None,
    )


async def budget_decision(
    box: Mailbox, step_id: str, message: str, check: Callable[[Decision], str | None]
) -> Decision:
    """Wait, shown in ``waiting`` with ``message``, for a person's decision on ``step_id``
    over an exceeded budget; the ``approve`` Update's validator also runs ``check``."""
    box.decisions.pop(step_id, None)  # a step may pause more than once
    box.checks[step_id] = check
    box.wait_for(
        Waiting(
            step=step_id,
            kind="approval",
            name=UPDATE_APPROVE,
            message=message,
            since=workflow.now().isoformat(),
        )
    )
    try:
        await workflow.wait_condition(lambda: step_id in box.decisions)
    finally:
        box.checks.pop(step_id, None)
        box.done_waiting(step_id)
    return box.decisions.pop(step_id)


def _reads(value: Any) -> Iterator[Reads]:
    """What the templates anywhere in ``value`` read."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if is_template(item):
                yield reads(item)
            elif item:  # a condition written without braces
                try:
                    yield reads(item, expression=True)
                except Exception:  # not an expression: it reads nothing
                    continue
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _referenced_steps(value: Any) -> set[str]:
    """Step ids (or output names) the templates anywhere in ``value`` read."""
    return {ref for read in _reads(value) for ref in read.steps}


def inputs_read(value: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``inputs`` the templates in ``value`` read (all of it if they use
    ``inputs`` as a whole), so a body run is not handed data it never looks at."""
    names: set[str] = set()
    for read in _reads(value):
        if read.all_inputs:
            return dict(inputs)
        names |= read.inputs | read.names  # the original format reads inputs at the root
    return {name: inputs[name] for name in names if name in inputs}

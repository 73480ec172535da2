"""`DagWorkflow`: the one Temporal workflow that interprets every workflow definition.

A thin, deterministic loop around the pure :class:`~interpreter.scheduler.Scheduler`,
which owns every step's state: start whatever is ready, as its kind says (an
activity, a group, an in-workflow decision), wait for any activity to finish,
report it, repeat. Templates are rendered here with the sandboxed, pure evaluator,
so activities receive fully resolved payloads and hold all the I/O.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal, assert_never

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.contrib.workflow_streams import WorkflowStream
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    RetryState,
    TimeoutError,
)

# Workers run `DagWorkflow` unsandboxed (llm_orchestrator/worker.py, docs/runtime.md);
# passing these through keeps it cheap under the default sandboxed runner too.
with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from interpreter import defaults as code_defaults
    from interpreter import definition_cache
    from interpreter.budgets import Budget, Budgeted, overrun, raised_limit, suggested_limit
    from interpreter.catalog import ResolvedWorkflow, ResolveRequest
    from interpreter.context import TemplateContext
    from interpreter.contract import (
        ACTIVITY_RESOLVE_WORKFLOW,
        QUERY_PROGRESS,
        UPDATE_APPROVE,
        WORKFLOW_TYPE,
        AnsweredBy,
        Progress,
        ReusedStep,
        RunInput,
        RunResult,
        RunStatusName,
        Scope,
        SkippedModel,
        StepOutcome,
        Usage,
    )
    from interpreter.contract import Decision as Approval
    from interpreter.dag import Dag, Node
    from interpreter.errors import (
        ERROR_BUDGET_EXCEEDED,
        ERROR_INTERNAL,
        ERROR_INVALID_DEFINITION,
        ERROR_INVALID_INPUT,
        ERROR_STEP_FAILED,
        ERROR_TEMPLATE,
        TRANSIENT_ERRORS,
        InputError,
        WorkflowDefinitionError,
    )
    from interpreter.hints import nearest
    from interpreter.inputs import resolve_inputs
    from interpreter.models import Defaults, RetryPolicy, WorkflowDefinition
    from interpreter.runtime import Mailbox, StepRuntime, budget_decision, heartbeat_timeout
    from interpreter.runtime import retry_policy as _retry_policy
    from interpreter.scheduler import Decision, Scheduler, Status
    from interpreter.steps import (
        ActivityChain,
        ActivityKind,
        AnyKind,
        AsyncKind,
        ChainAnswer,
        DecisionKind,
        GroupKind,
        PureKind,
        RunFacts,
        StepFailure,
    )
    from interpreter.steps._kind import cause_message as _cause_message
    from interpreter.steps._kind import retry_of, timeout_of
    from interpreter.templates import TemplateFailure, evaluate_condition, render_value

__all__ = ["DagWorkflow"]

_PATCH_IN_WORKFLOW = "steps-in-workflow-2"
"""Runs that compute `transform` steps and `log` actions in the workflow and run calls that
say ``local`` as local activities. One patch for all of them: each patch a run records
costs a marker and a search-attribute upsert in its history (~3 ms a run on a tuned dev
server). Runs recorded before it replay with each kind's older patch, if it has one
(``PureKind.patch``), else with the activities they scheduled."""

_COMPUTED_SHOWN = 20
"""The run's current details list this many of the latest steps computed in the workflow."""
_RUN = ""
"""Key of the run's budget among raised limits (step ids key steps' budgets)."""
_BUDGET_PER_CALL = "budget-per-call"
"""Patch: the run's budget is also checked before a fallback entry (older runs: only
before a step starts)."""
_RunCheck = Literal["always", "patched", "never"]
"""Whether :meth:`DagWorkflow._within_budget` checks the run's budget: always (agent
turns, checked since agents exist), with ``fail`` only in runs that have the
:data:`_BUDGET_PER_CALL` patch (a model step's calls: before, only its start was
checked, by ``_check_budget``), or never (body runs: the run's budget is its own steps')."""


class _StepFailed(Exception):
    def __init__(
        self,
        message: str,
        attempts: int = 0,
        usage: Usage | None = None,
        transcript: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.usage = usage
        """Tokens the failed step spent all the same (replies a model got wrong)."""
        self.transcript = transcript
        """A failed agent's conversation so far."""


@workflow.defn(
    name=WORKFLOW_TYPE,
    # a bad definition or template must fail the run, never leave it retrying its task
    failure_exception_types=[WorkflowDefinitionError, TemplateFailure, ValidationError],
)
class DagWorkflow:
    """Runs any workflow definition; see DESIGN.md "Runtime picture"."""

    def __init__(self) -> None:
        self._status: RunStatusName = "resolving"
        self._definition_model: WorkflowDefinition | None = None
        self._scheduler: Scheduler | None = None
        self._mocks: dict[str, Any] = {}
        self._reuse: dict[str, ReusedStep] = {}
        self._rerun_note = ""
        self._events: deque[tuple[str, StepOutcome | _StepFailed]] = deque()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timed_out = False
        self._mailbox = Mailbox(on_change=self._show_details)
        self._scope = Scope()
        self._details_header = ""
        self._diagram = ""
        self._summaries: Mapping[str, str] = {}
        self._patches: dict[str, bool] = {}
        self._computed: list[str] = []
        self._computed_shown = 0
        self._limits: dict[str, Budget] = {}
        """Budgets a person raised while paused: the run's (key ``_RUN``), a step's (its id)."""
        self._run_paused_by: str | None = None
        """The step whose approval carries the run's budget pause (others wait on it)."""
        # live tokens of streamed `llm` steps: activities publish batches by signal, the
        # CLI reads them by Update (docs/runtime.md, "Live tokens"); no commands
        self._stream = WorkflowStream()

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> Progress:
        """Every step's status, attempts and timing, and the usage so far."""
        definition = self._definition_model
        return Progress(
            workflow=definition.name if definition else None,
            version=definition.version if definition else None,
            status=self._status,
            steps=self._scheduler.records() if self._scheduler else {},
            usage=self._usage(),
            waiting=list(self._mailbox.waiting.values()),
        )

    @workflow.update(name=UPDATE_APPROVE)
    async def approve(self, decision: Approval) -> str:
        """A person decides an `approval` step (checked first: see the validator)."""
        self._mailbox.decide(decision)
        verdict = "approved" if decision.approved else "rejected"
        return f"step `{decision.step}` {verdict}"

    @approve.validator
    def _check_approval(self, decision: Approval) -> None:
        problem = self._mailbox.check_decision(decision)
        if problem is not None:
            raise ApplicationError(problem, type="InvalidDecision", non_retryable=True)

    @workflow.signal(name=UPDATE_APPROVE)
    def approve_by_signal(self, decision: Approval) -> None:
        """The same decision, fire-and-forget; one that cannot be taken is logged and dropped."""
        problem = self._mailbox.check_decision(decision)
        if problem is None:
            self._mailbox.decide(decision)
        else:
            workflow.logger.warning("approve signal ignored: %s", problem)

    @workflow.signal(dynamic=True)
    def named_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Any other signal: kept for the `wait` step that waits for it (payload = output)."""
        payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        self._mailbox.deliver_signal(name, payload)

    @workflow.run
    async def run(self, raw_input: Any) -> RunResult:
        request = self._parse_input(raw_input)
        prepared, library = await self._definition(request)
        definition = prepared.definition
        inputs = self._inputs(definition, request)
        self._dag = prepared.dag
        self._summaries = prepared.summaries
        self._mocks, self._reuse = self._check_given(self._dag, request)
        info = workflow.info()
        self._definition_model = definition
        self._facts = RunFacts(
            defaults=definition.defaults,
            offline=request.offline,
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            library=library,
        )
        self._scope = request.scope
        self._details_header = f"**{definition.name}** v{definition.version}"
        if request.rerun_of is not None:
            old = request.rerun_of
            self._rerun_note = f"reused from run {old.workflow_id} ({old.run_id})"
            reused = ", ".join(f"`{step_id}`" for step_id in self._reuse) or "none"
            self._details_header += (
                f"  \n**Rerun of** `{old.workflow_id}` (run id `{old.run_id}`); "
                f"reused steps: {reused}"
            )
        self._diagram = prepared.diagram
        self._show_details()
        self._scheduler = scheduler = Scheduler(self._dag, clock=workflow.now)
        self._context = TemplateContext(
            inputs,
            scheduler,
            {
                "name": definition.name,
                "version": definition.version,
                "id": info.workflow_id,
                "run_id": info.run_id,
            },
            request.scope,
        )
        self._status = "running"
        started = workflow.now()
        if definition.timeout:
            asyncio.create_task(self._deadline(definition.timeout))  # noqa: RUF006

        try:
            self._apply(scheduler.initial())
            while not scheduler.done:
                await workflow.wait_condition(lambda: bool(self._events) or self._timed_out)
                if self._timed_out:
                    await self._abort(f"the run's timeout of {definition.timeout:g}s passed")
                    raise ApplicationError(
                        f"workflow `{definition.name}` timed out after {definition.timeout:g}s",
                        type="WorkflowTimeout",
                        non_retryable=True,
                    )
                while self._events:
                    step_id, result = self._events.popleft()
                    self._tasks.pop(step_id, None)
                    self._finish_leaf(step_id, result)
        except asyncio.CancelledError:
            self._status = "cancelled"
            await self._abort("the run was cancelled")
            raise
        except ApplicationError as exc:
            self._status = "failed"
            await self._abort(exc.message)
            await self._release_subscribers()
            raise
        except Exception as exc:  # a defect of ours must fail the run, not retry it forever
            self._status = "failed"
            message = _unexpected(exc)
            await self._abort(message)
            await self._release_subscribers()
            raise ApplicationError(message, type=ERROR_INTERNAL, non_retryable=True) from None

        try:
            outputs = render_value(definition.outputs, self._context.data)
        except TemplateFailure as exc:
            self._status = "failed"
            raise ApplicationError(
                f"rendering `outputs` failed: {exc}", type=ERROR_TEMPLATE, non_retryable=True
            ) from None
        self._status = "completed"
        await self._release_subscribers()
        return RunResult(
            workflow=definition.name,
            version=definition.version,
            outputs=outputs,
            status={step_id: state.status.value for step_id, state in scheduler.steps.items()},
            steps=scheduler.records() if request.records else {},
            usage=self._usage(),
            duration_ms=int((workflow.now() - started).total_seconds() * 1000),
        )

    async def _release_subscribers(self) -> None:
        """Answer the stream's waiting polls before the run ends, so a subscriber gets the
        last tokens at once and no poll is left unfinished; later ones read the closed run."""
        self._stream.detach_pollers()
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _usage(self) -> Usage:
        total = Usage()
        if self._scheduler is not None:
            for state in self._scheduler.steps.values():
                if state.usage is not None:
                    total = total + state.usage
        return total

    # --- preparing the run ---------------------------------------------------------

    @staticmethod
    def _parse_input(raw_input: Any) -> RunInput:
        if isinstance(raw_input, dict):
            known = set(RunInput.model_fields)
            for key in raw_input:
                if key not in known:
                    hint = nearest(str(key), known)
                    raise ApplicationError(
                        f"invalid start input: unknown key `{key}`"
                        + (f"; {hint}" if hint else "")
                        + f" (the keys are {', '.join(sorted(known))})",
                        type=ERROR_INVALID_INPUT,
                        non_retryable=True,
                    )
        try:
            request = RunInput.model_validate(raw_input)
        except ValidationError as exc:
            raise ApplicationError(
                'invalid start input: expected {"workflow": NAME, "inputs": {...}} or '
                '{"definition": {...}, "inputs": {...}}; '
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                type=ERROR_INVALID_INPUT,
                non_retryable=True,
            ) from None
        if (request.workflow is None) == (request.definition is None):
            raise ApplicationError(
                "invalid start input: give exactly one of `workflow` (a name in the worker's "
                "catalog) or `definition` (the workflow itself)",
                type=ERROR_INVALID_INPUT,
                non_retryable=True,
            )
        return request

    async def _definition(
        self, request: RunInput
    ) -> tuple[definition_cache.Prepared, dict[str, dict[str, Any]]]:
        """The definition the run uses, prepared, and the workflows it names (both pinned)."""
        if request.definition is not None:
            try:
                scope = request.scope
                prepared = definition_cache.from_data(
                    request.definition,
                    outer=scope.steps,
                    roots={*scope.roots, *(k for v in scope.per_step.values() for k in v)},
                )
                return prepared, request.library
            except WorkflowDefinitionError as exc:
                raise ApplicationError(
                    f"invalid workflow definition:\n{exc}",
                    [p.as_dict() for p in exc.problems],
                    type=ERROR_INVALID_DEFINITION,
                    non_retryable=True,
                ) from None
        assert request.workflow is not None
        try:
            # raw: a definition seen before is neither decoded nor prepared again
            resolved: RawValue = await workflow.execute_activity(
                ACTIVITY_RESOLVE_WORKFLOW,
                ResolveRequest(name=request.workflow),
                result_type=RawValue,
                start_to_close_timeout=timedelta(seconds=code_defaults.RESOLVE_TIMEOUT_SECONDS),
                retry_policy=TemporalRetryPolicy(maximum_attempts=3),
                summary=f"resolve workflow `{request.workflow}`",
            )
        except ActivityError as exc:
            raise ApplicationError(
                _cause_message(exc), type=ERROR_INVALID_DEFINITION, non_retryable=True
            ) from None

        def decode() -> tuple[WorkflowDefinition, dict[str, dict[str, Any]]]:
            found = workflow.payload_converter().from_payload(resolved.payload, ResolvedWorkflow)
            return found.definition, found.library

        prepared = definition_cache.from_catalog(resolved.payload.data, decode)
        return prepared, {**prepared.library, **request.library}

    @staticmethod
    def _inputs(definition: WorkflowDefinition, request: RunInput) -> dict[str, Any]:
        try:
            return resolve_inputs(definition, request.inputs)
        except InputError as exc:
            raise ApplicationError(
                f"invalid inputs for `{definition.name}`:\n{exc}",
                [p.as_dict() for p in exc.problems],
                type=ERROR_INVALID_INPUT,
                non_retryable=True,
            ) from None

    @staticmethod
    def _check_given(dag: Dag, request: RunInput) -> tuple[dict[str, Any], dict[str, ReusedStep]]:
        """The steps whose result the start input gives (``mocks``, ``reuse``), checked."""
        for field, step_ids in (("mocks", request.mocks), ("reuse", request.reuse)):
            for step_id in step_ids:
                node = dag.nodes.get(step_id)
                if node is None:
                    hint = nearest(step_id, dag.nodes)
                    problem = f"`{field}` names unknown step `{step_id}`" + (
                        f"; {hint}" if hint else ""
                    )
                elif isinstance(node.kind, GroupKind):
                    problem = f"`{field}` names `{step_id}`, a group: name the steps inside it"
                else:
                    continue
                raise ApplicationError(
                    f"invalid start input: {problem}", type=ERROR_INVALID_INPUT, non_retryable=True
                )
        return dict(request.mocks), dict(request.reuse)

    async def _deadline(self, seconds: float) -> None:
        await workflow.sleep(seconds)
        self._timed_out = True

    # --- applying scheduler decisions ------------------------------------------------

    def _apply(self, first: Decision) -> None:
        queue = deque([first])
        while queue:
            for step_id in queue.popleft().start:
                node = self._dag.nodes[step_id]
                try:
                    queue.append(self._start(node))
                except ApplicationError:
                    raise  # meant to end the run (a budget)
                except Exception as exc:  # nothing may leave a run stuck: the step fails
                    queue.append(self._fail(node, _unexpected(exc)))
        if len(self._computed) != self._computed_shown:  # once per batch, not per step
            self._show_details()

    def _start(self, node: Node) -> Decision:
        step = node.step
        scheduler = self._scheduler
        assert scheduler is not None
        try:
            context = self._context.for_step(node.id)
            if step.when is not None and not evaluate_condition(step.when, context):
                return scheduler.finish(node.id, Status.SKIPPED, "`when` was false")
        except TemplateFailure as exc:
            return self._fail(node, f"`when` could not be evaluated: {exc}")
        decision = scheduler.running(node.id)
        kind = node.kind
        if node.id in self._mocks or node.id in self._reuse:
            return decision.merge(self._given(node, kind))
        if isinstance(kind, GroupKind):
            return decision
        if isinstance(kind, DecisionKind):
            try:
                case = kind.decide(step, context)
            except TemplateFailure as exc:
                return decision.merge(
                    self._fail(node, f"branch condition could not be evaluated: {exc}")
                )
            return decision.merge(scheduler.choose(node.id, case))
        if isinstance(kind, ActivityKind):
            if kind.metered:
                self._check_budget(node.id)
            self._tasks[node.id] = asyncio.create_task(
                self._run_step(node, functools.partial(self._execute, node, kind))
            )
            return decision
        if isinstance(kind, AsyncKind):
            self._tasks[node.id] = asyncio.create_task(
                self._run_step(node, functools.partial(self._in_workflow, node, kind))
            )
            return decision
        if isinstance(kind, PureKind):
            if kind.replays_with is not None and not self._computed_here(kind):
                self._tasks[node.id] = asyncio.create_task(
                    self._run_step(node, functools.partial(self._execute, node, kind.replays_with))
                )
                return decision
            return decision.merge(self._compute(node, kind, context))
        assert_never(kind)

    def _given(self, node: Node, kind: AnyKind) -> Decision:
        """A step whose result the start input gives: mocked (``mocks``), or reused from the
        run a rerun continues (``reuse``). It does not run; a branch takes that case."""
        assert self._scheduler is not None
        reused = self._reuse.get(node.id) if node.id not in self._mocks else None
        value = reused.output if reused is not None else self._mocks[node.id]
        if isinstance(kind, DecisionKind):
            return self._scheduler.choose(node.id, kind.case_for(node.step, value))
        if reused is None:
            return self._scheduler.complete(node.id, value, note="mocked by the start input")
        note = self._rerun_note or "reused from an earlier run"
        if reused.usage is not None and reused.usage != Usage():
            spent = reused.usage
            note += (
                f"; it spent {spent.input_tokens + spent.output_tokens} tokens "
                f"${spent.cost_usd:.6f} there, not charged again"
            )
        return self._scheduler.reuse(
            node.id, value, extras=reused.extras, note=note, transcript=reused.transcript
        )

    def _check_budget(self, step_id: str) -> None:
        """Refuse to start another model step once the run's `budget` is exceeded
        (``on_exceed: fail``); with ``pause`` the step's own task waits (:meth:`_within_budget`)."""
        assert self._scheduler is not None
        budget = self._run_budget()
        spent = self._usage()
        over = overrun(budget, spent)
        if over is None or budget is None or budget.on_exceed == "pause":
            return
        self._scheduler.mark(step_id, Status.SKIPPED, reason="budget exceeded")
        raise ApplicationError(
            f"budget exceeded before step `{step_id}`: {over}",
            {"cost_usd": spent.cost_usd, "tokens": spent.input_tokens + spent.output_tokens},
            type=ERROR_BUDGET_EXCEEDED,
            non_retryable=True,
        )

    def _run_budget(self) -> Budget | None:
        assert self._definition_model is not None
        return self._limits.get(_RUN, self._definition_model.budget)

    async def _within_budget(
        self,
        step_id: str,
        own: Budget | None,
        spent: Usage,
        *,
        run: _RunCheck,
        before: str = "its next model call",
    ) -> None:
        """Return once the next model call (or body run) of ``step_id`` may start: the
        run's budget (``run``, see :data:`_RunCheck`), with ``spent`` — the step's usage so
        far, not yet in the run's totals — and then the step's own budget ``own`` against
        ``spent``. The one budget rule for run and step budgets, before every call a step
        makes (``before`` names it in a failure)."""
        while True:
            budget = self._run_budget()
            over = overrun(budget, self._usage() + spent) if run != "never" else None
            if (
                over is not None
                and budget is not None
                and (
                    budget.on_exceed == "pause"
                    or run == "always"
                    or workflow.patched(_BUDGET_PER_CALL)
                )
            ):
                await self._exceeded(
                    step_id, _RUN, budget, over, spent, lambda: self._usage() + spent, before
                )
                continue
            budget = self._limits.get(step_id, own)
            over = overrun(budget, spent, name="step budget")
            if over is not None and budget is not None:
                await self._exceeded(step_id, step_id, budget, over, spent, lambda: spent, before)
                continue
            return

    async def _exceeded(
        self,
        step_id: str,
        key: str,
        budget: Budget,
        over: str,
        spent: Usage,
        counted: Callable[[], Usage],
        before: str,
    ) -> None:
        """A budget (the run's: ``key`` ``_RUN``, else the step's) is exceeded before a
        call of ``step_id``. ``fail``: the step fails. ``pause``: wait for a person's
        decision on ``step_id``; approved with a raised limit (``data``, checked by the
        Update's validator against ``counted()``, what the budget counts), return."""
        whose = "the run's budget" if key == _RUN else "the step's budget"
        failed_usage = spent if spent != Usage() else None
        if budget.on_exceed == "fail":
            raise _StepFailed(
                f"{whose} exceeded before {before}: {over} (on_exceed: fail)",
                usage=failed_usage,
            )
        if key == _RUN and self._run_paused_by not in (None, step_id):
            # one person decides the run's pause once, not once per step reaching it
            await workflow.wait_condition(lambda: self._run_paused_by is None)
            return
        example = json.dumps(suggested_limit(budget, counted()))
        message = (
            f"budget exceeded ({whose}: {over}); approve with a new limit: "
            f"`llm-orchestrator approve {workflow.info().workflow_id} {step_id} "
            f"--data '{example}'`, or reject to fail the step"
        )

        def check(decision: Approval) -> str | None:
            if not decision.approved:
                return None
            raised = raised_limit(budget, counted(), decision.data)
            return raised if isinstance(raised, str) else None

        if key == _RUN:
            self._run_paused_by = step_id
        try:
            decision = await budget_decision(self._mailbox, step_id, message, check)
        finally:
            if key == _RUN:
                self._run_paused_by = None
        raised = raised_limit(budget, counted(), decision.data)
        if not decision.approved or isinstance(raised, str):
            who = f" by {decision.by}" if decision.by else ""
            why = f": {decision.comment}" if decision.comment else ""
            raise _StepFailed(
                f"{whose} exceeded: {over}; a raised limit was rejected{who}{why}",
                usage=failed_usage,
            )
        self._limits[key] = raised

    def _fail(self, node: Node, message: str, attempts: int = 0) -> Decision:
        """A step failed before or without an activity (template, condition, pure step)."""
        assert self._scheduler is not None
        self._events.append((node.id, _StepFailed(message, attempts)))
        return self._scheduler.running(node.id)

    # --- activity steps ---------------------------------------------------------------

    async def _run_step(self, node: Node, work: Callable[[], Awaitable[StepOutcome]]) -> None:
        """Do a step's work and post its outcome, or why it failed, as an event. The work is
        begun here, not by the caller: a task cancelled before it starts (the run failed
        meanwhile) leaves no coroutine that was never awaited."""
        assert self._definition_model is not None
        defaults = self._definition_model.defaults
        try:
            outcome = await work()
        except _StepFailed as exc:
            self._events.append((node.id, exc))
        except StepFailure as exc:
            failed = _StepFailed(str(exc), usage=exc.usage, transcript=exc.transcript)
            self._events.append((node.id, failed))
        except ChildWorkflowError as exc:
            self._events.append((node.id, _StepFailed(_cause_message(exc))))
        except ActivityError as exc:
            failure = _activity_failure(
                exc, retry_of(node.step, defaults), timeout_of(node.step, defaults)
            )
            self._events.append((node.id, failure))
        except asyncio.CancelledError:
            self._events.append((node.id, _StepFailed("cancelled")))
            raise
        except Exception as exc:  # nothing may leave a run stuck: the step fails
            self._events.append((node.id, _StepFailed(_unexpected(exc))))
        else:
            self._events.append((node.id, outcome))

    async def _execute(self, node: Node, kind: ActivityKind[Any]) -> StepOutcome:
        """Run the step's activity, or walk its fallback chain (:func:`_walk_chain`)."""
        step = node.step
        defaults = self._facts.defaults
        try:
            rendered = render_value(kind.template_sources(step), self._context.for_step(node.id))
        except TemplateFailure as exc:
            raise _StepFailed(f"template error: {exc}") from None
        try:
            chain = kind.chain(step, rendered, self._facts)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise _StepFailed(f"after rendering templates: {problems}") from None
        if any(call.local for call in chain.calls) and not self._patched(_PATCH_IN_WORKFLOW):
            chain = replace(chain, calls=tuple(replace(c, local=False) for c in chain.calls))
        own = step.budget if isinstance(step, Budgeted) else None

        async def within_budget(spent: Usage) -> None:
            if kind.metered:  # a step that spends no tokens is never held back
                await self._within_budget(node.id, own, spent, run="patched")

        answer = await _walk_chain(
            chain,
            before=within_budget,
            label=self._label(node.id),
            summary=self._summaries[node.id],
            timeout=timeout_of(step, defaults),
            policy=retry_of(step, defaults),
            defaults=defaults,
            result_type=StepOutcome if chain.calls[0].builtin else None,
        )
        outcome = answer.result
        if not isinstance(outcome, StepOutcome):
            # a custom activity's result is its own; its attempt count is not reported (0)
            return StepOutcome(output=outcome, attempt=0)
        if answer.call.provider is None:
            return outcome
        usage = outcome.usage
        if answer.spent != Usage():
            usage = answer.spent + (usage or Usage())
        return outcome.model_copy(
            update={
                "answered_by": AnsweredBy(
                    provider=answer.call.provider,
                    model=answer.call.model or "",
                    skipped=answer.skipped,
                ),
                "attempt": outcome.attempt + sum(s.attempts for s in answer.skipped),
                "usage": usage,
            }
        )

    async def _in_workflow(self, node: Node, kind: AsyncKind[Any]) -> StepOutcome:
        """An in-workflow step (wait, approval, workflow, map, loop) over durable primitives."""
        context = self._context.for_step(node.id)
        try:
            rendered = render_value(kind.template_sources(node.step), context)
        except TemplateFailure as exc:
            raise _StepFailed(f"template error: {exc}") from None
        own = node.step.budget if isinstance(node.step, Budgeted) else None

        async def within_budget(spent: Usage, before: str, run: _RunCheck = "always") -> None:
            try:
                await self._within_budget(node.id, own, spent, run=run, before=before)
            except _StepFailed as exc:
                raise StepFailure(str(exc)) from None

        async def before_body_run(spent: Usage) -> None:
            await within_budget(spent, "its next body run", "never")

        runtime = StepRuntime(
            step_id=node.id,
            facts=self._facts,
            context=context,
            outer=self._snapshot,
            step_roots=self._scope.per_step.get(node.id, {}),
            mailbox=self._mailbox,
            label=self._label(node.id),
            within_budget=within_budget,
            # body runs count against the step's own budget (the run's is checked by
            # the model steps themselves)
            before_child=before_body_run if own is not None else None,
            # an agent's turns are checked by the agent, before each turn
            walk=functools.partial(
                _walk_chain,
                before=_unmetered,
                label=self._label(node.id),
                defaults=self._facts.defaults,
            ),
        )
        return await kind.run(node.step, rendered, runtime)

    def _computed_here(self, kind: PureKind[Any]) -> bool:
        """Compute this pure kind in the workflow? Yes, but not while replaying a run
        recorded before it was (:data:`_PATCH_IN_WORKFLOW`, or the kind's older patch)."""
        if self._patched(_PATCH_IN_WORKFLOW):
            return True
        return bool(kind.patch) and self._patched(kind.patch)

    def _patched(self, patch: str) -> bool:
        """Does this run take the change ``patch`` marks? Not a replay of a run recorded
        before it; asked once per run (the SDK records the marker the first time)."""
        if patch not in self._patches:
            self._patches[patch] = workflow.patched(patch)
        return self._patches[patch]

    def _compute(self, node: Node, kind: PureKind[Any], context: Mapping[str, Any]) -> Decision:
        """A pure step, computed now: no activity, and no retry (it would fail alike)."""
        assert self._scheduler is not None
        try:
            rendered = render_value(kind.template_sources(node.step), context)
        except TemplateFailure as exc:
            return self._fail(node, f"template error: {exc}")
        summary = f"`{self._label(node.id)}` {kind.summary(node.step, self._facts.defaults)}"
        try:
            outcome = kind.compute(node.step, rendered)
        except StepFailure as exc:
            self._computed.append(f"{summary} ✗")
            return self._fail(node, str(exc), attempts=1)
        self._computed.append(f"{summary} ✓")
        return self._scheduler.complete(
            node.id,
            outcome.output,
            extras=outcome.extras,
            usage=outcome.usage,
            attempts=outcome.attempt,
            note=outcome.note,
        )

    def _snapshot(self, ref: str) -> dict[str, Any] | None:
        """``steps.<ref>`` as this run sees it now, for a body run's scope."""
        try:
            return dict(self._context.data["steps"][ref])
        except KeyError:
            return None

    def _label(self, step_id: str) -> str:
        return self._scope.labels.get(step_id, step_id)

    def _show_details(self) -> None:
        """The run's current details in the Web UI: what it waits for, then its graph."""
        lines = [self._details_header]
        for waiting in self._mailbox.waiting.values():
            if waiting.step in self._mailbox.checks:  # a budget pause: its message says how
                lines.append(f"**`{waiting.step}` is paused:** {waiting.message}")
            elif waiting.kind == "approval":
                lines.append(
                    f"**Waiting for approval of `{waiting.step}`:** {waiting.message or ''}"
                    f"  \n`llm-orchestrator approve {workflow.info().workflow_id} {waiting.step}`"
                )
            else:
                lines.append(f"**`{waiting.step}` waits for signal `{waiting.name}`**")
        if self._computed:  # they have no activity in the timeline: list them here
            shown = self._computed[-_COMPUTED_SHOWN:]
            more = len(self._computed) - len(shown)
            lines.append(
                "**Computed in the workflow:** "
                + (f"({more} earlier) … " if more else "")
                + " · ".join(shown)
            )
            self._computed_shown = len(self._computed)
        workflow.set_current_details("\n\n".join([*lines, self._diagram]))

    def _finish_leaf(self, step_id: str, result: StepOutcome | _StepFailed) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        if isinstance(result, _StepFailed):
            if not self._dag.nodes[step_id].step.continue_on_error:
                scheduler.mark(
                    step_id,
                    Status.FAILED,
                    error=str(result),
                    attempts=result.attempts,
                    usage=result.usage,
                    transcript=result.transcript,
                )
                raise ApplicationError(
                    f"step `{step_id}` failed: {result}", type=ERROR_STEP_FAILED, non_retryable=True
                )
            self._apply(
                scheduler.fail(
                    step_id,
                    str(result),
                    attempts=result.attempts,
                    usage=result.usage,
                    transcript=result.transcript,
                )
            )
            return
        self._apply(
            scheduler.complete(
                step_id,
                result.output,
                extras=result.extras,
                usage=result.usage,
                attempts=result.attempt,
                errors=result.errors,
                note=result.note,
                answered_by=result.answered_by,
                repairs=result.repairs,
                transcript=result.transcript,
            )
        )

    async def _abort(self, why: str) -> None:
        """Cancel every running step deliberately and wait until they have stopped."""
        running = [task for task in self._tasks.values() if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if self._scheduler is not None:
            self._scheduler.abort(why)


async def _unmetered(spent: Usage) -> None:
    """No budget check between a chain's calls (a caller that checks on its own)."""


async def _walk_chain(
    chain: ActivityChain,
    *,
    before: Callable[[Usage], Awaitable[None]],
    label: str,
    summary: str,
    timeout: float,
    policy: RetryPolicy,
    defaults: Defaults,
    result_type: type[Any] | None,
) -> ChainAnswer:
    """Run a chain's calls one at a time until one answers. Each is its own activity (its
    own timeout, retry policy and summary, else ``timeout``/``policy``/``summary``); the
    next runs only when one failed in a way ``chain.fallback_on`` moves on from. A chain of
    one raises its ``ActivityError`` as is; a longer one raises ``_StepFailed`` naming every
    model tried and its error. ``before(spent)`` runs before each call (the budgets)."""
    skipped: list[SkippedModel] = []
    spent = Usage()
    for number, call in enumerate(chain.calls):
        await before(spent)
        last = number == len(chain.calls) - 1
        seconds = call.timeout or timeout
        retry = call.retry or policy
        policy_now = _retry_policy(retry, fallback_next=not last)
        summary_now = f"{label} · {call.summary or summary}"
        try:
            if call.local:
                result = await workflow.execute_local_activity(
                    call.name,
                    call.payload,
                    result_type=result_type,
                    start_to_close_timeout=timedelta(seconds=seconds),
                    retry_policy=policy_now,
                    summary=summary_now,
                )
            else:
                result = await workflow.execute_activity(
                    call.name,
                    call.payload,
                    result_type=result_type,
                    start_to_close_timeout=timedelta(seconds=seconds),
                    retry_policy=policy_now,
                    heartbeat_timeout=heartbeat_timeout(call.heartbeat, defaults, seconds),
                    summary=summary_now,
                )
        except ActivityError as exc:
            if len(chain.calls) == 1:
                raise  # worded by DagWorkflow._run_step, as for any activity
            failure = _activity_failure(exc, retry, seconds)
            skipped.append(
                SkippedModel(
                    provider=call.provider or call.name,
                    model=call.model or "",
                    error=str(failure),
                    attempts=failure.attempts,
                )
            )
            if failure.usage is not None:
                spent = spent + failure.usage
            if not last and _moves_on(exc, chain.fallback_on):
                continue
            raise _StepFailed(
                _chain_failure(skipped, stopped_early=not last),
                sum(s.attempts for s in skipped),
                spent if spent != Usage() else None,
            ) from None
        return ChainAnswer(result, call, skipped, spent)
    raise AssertionError("a chain has at least one call")


def _activity_failure(exc: ActivityError, policy: RetryPolicy, timeout: float) -> _StepFailed:
    """Why an activity failed after its retries, worded for the step's record."""
    attempts = _attempts(exc)
    if not attempts and exc.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        attempts = policy.max_attempts
    message = _cause_message(exc)
    if isinstance(exc.cause, TimeoutError):
        message = f"timed out: no result within the step's timeout of {timeout:g}s ({message})"
    return _StepFailed(message, attempts, _spent(exc))


def _moves_on(exc: ActivityError, fallback_on: str) -> bool:
    """Does this failure move a fallback chain to its next entry? Timeouts and the
    transient types do; with ``fallback_on: any`` everything but a cancellation does."""
    cause = exc.cause
    if isinstance(cause, CancelledError):
        return False
    if fallback_on == "any" or isinstance(cause, TimeoutError):
        return True
    return isinstance(cause, ApplicationError) and cause.type in TRANSIENT_ERRORS


def _chain_failure(skipped: Sequence[SkippedModel], *, stopped_early: bool) -> str:
    """A failed chain's message: each model tried, and its error."""
    tried = "; ".join(f"{s.provider}/{s.model}: {s.error}" for s in skipped)
    if stopped_early:
        return (
            f"{tried} (not a failure that moves the fallback chain on, so the rest of it "
            "was not tried; `fallback_on: any` would)"
        )
    return f"every model of the fallback chain failed: {tried}"


def _unexpected(exc: Exception) -> str:
    """What to say about an exception nobody expected (the interpreter's own defect)."""
    return (
        f"the interpreter failed: {type(exc).__name__}: {exc} — please report this with the "
        "workflow file"
    )


def _spent(exc: ActivityError) -> Usage | None:
    """The tokens a failed attempt spent, when its activity said (``step_failure(usage=)``)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[-1]
        if isinstance(detail, dict) and isinstance(detail.get("usage"), dict):
            try:
                return Usage.model_validate(detail["usage"])
            except ValidationError:
                return None
    return None


def _attempts(exc: ActivityError) -> int:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[-1]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    return 0

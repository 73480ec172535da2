"""`DagWorkflow`: the one Temporal workflow that interprets every workflow definition.

A thin, deterministic loop around the pure :class:`~interpreter.dag.Scheduler`:
start whatever is ready (each leaf step as an activity, containers and branch
decisions in-workflow), wait for any activity to finish, report it, repeat.
Templates are rendered here with the sandboxed, pure evaluator, so activities
receive fully resolved steps and hold all the I/O.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from interpreter import defaults as code_defaults
    from interpreter.context import TemplateContext, bind_outputs
    from interpreter.contract import (
        ACTIVITY_ACTION,
        ACTIVITY_EMBED,
        ACTIVITY_LLM,
        ACTIVITY_RESOLVE_WORKFLOW,
        ACTIVITY_TRANSFORM,
        ACTIVITY_VECTOR_SEARCH,
        BUILTIN_ACTIONS,
        QUERY_PROGRESS,
        WORKFLOW_TYPE,
        ActionRequest,
        EmbedRequest,
        LlmRequest,
        Progress,
        ResolvedWorkflow,
        ResolveRequest,
        RunInput,
        RunResult,
        StepOutcome,
        StepRecord,
        TransformRequest,
        VectorSearchRequest,
    )
    from interpreter.dag import Dag, Decision, Node, Scheduler, Status
    from interpreter.diagram import describe_step, to_mermaid
    from interpreter.errors import (
        ERROR_BUDGET_EXCEEDED,
        ERROR_INVALID_DEFINITION,
        ERROR_INVALID_INPUT,
        ERROR_STEP_FAILED,
        ERROR_TEMPLATE,
        InputError,
        WorkflowDefinitionError,
    )
    from interpreter.inputs import resolve_inputs
    from interpreter.loader import load_definition
    from interpreter.models import (
        ActionStep,
        AnyStep,
        BranchStep,
        EmbedStep,
        LlmStep,
        ParallelStep,
        TransformStep,
        VectorSearchStep,
        WorkflowDefinition,
    )
    from interpreter.templates import TemplateFailure, evaluate_condition, render_value

__all__ = ["DagWorkflow"]

_RENDERED_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    LlmStep: ("prompt", "system", "messages"),
    EmbedStep: ("input",),
    VectorSearchStep: ("query", "filter", "namespace", "index"),
    TransformStep: ("inputs", "params"),
    ActionStep: ("params",),
}


_STEP_ACTIVITIES = frozenset(
    {ACTIVITY_LLM, ACTIVITY_EMBED, ACTIVITY_VECTOR_SEARCH, ACTIVITY_TRANSFORM, ACTIVITY_ACTION}
)


class _StepFailed(Exception):
    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


@workflow.defn(
    name=WORKFLOW_TYPE,
    # a bad definition or template must fail the run, never leave it retrying its task
    failure_exception_types=[WorkflowDefinitionError, TemplateFailure, ValidationError],
)
class DagWorkflow:
    """Runs any workflow definition; see DESIGN.md "Runtime picture"."""

    def __init__(self) -> None:
        self._progress = Progress()
        self._records: dict[str, StepRecord] = self._progress.steps
        self._events: deque[tuple[str, StepOutcome | _StepFailed]] = deque()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timed_out = False

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> Progress:
        """Every step's status, attempts and timing, and the usage so far."""
        return self._progress

    @workflow.run
    async def run(self, raw_input: Any) -> RunResult:
        request = self._parse_input(raw_input)
        definition = await self._definition(request)
        inputs = self._inputs(definition, request)
        self._definition_model = definition
        self._offline = request.offline
        self._progress.workflow = definition.name
        self._progress.version = definition.version
        self._progress.status = "running"
        workflow.set_current_details(
            f"**{definition.name}** v{definition.version}\n\n```mermaid\n"
            f"{to_mermaid(definition)}```"
        )

        dag = Dag.build(definition)
        self._dag = dag
        self._scheduler = Scheduler(dag)
        info = workflow.info()
        self._context = TemplateContext(
            inputs,
            {
                "name": definition.name,
                "version": definition.version,
                "id": info.workflow_id,
                "run_id": info.run_id,
            },
        )
        for node in dag.nodes.values():
            record = StepRecord(id=node.id, type=node.step.type)
            self._records[node.id] = record
            self._context.update(node.id, record)
        started = workflow.now()
        if definition.timeout:
            asyncio.create_task(self._deadline(definition.timeout))  # noqa: RUF006

        try:
            self._apply(self._scheduler.initial())
            while not self._scheduler.done:
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
            self._progress.status = "cancelled"
            await self._abort("the run was cancelled")
            raise
        except ApplicationError as exc:
            self._progress.status = "failed"
            await self._abort(exc.message)
            raise

        try:
            outputs = render_value(definition.outputs, self._context.data)
        except TemplateFailure as exc:
            self._progress.status = "failed"
            raise ApplicationError(
                f"rendering `outputs` failed: {exc}", type=ERROR_TEMPLATE, non_retryable=True
            ) from None
        self._progress.status = "completed"
        return RunResult(
            workflow=definition.name,
            version=definition.version,
            outputs=outputs,
            steps=self._records,
            usage=self._progress.usage,
            duration_ms=_ms(workflow.now() - started),
        )

    # --- preparing the run ---------------------------------------------------------

    @staticmethod
    def _parse_input(raw_input: Any) -> RunInput:
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

    async def _definition(self, request: RunInput) -> WorkflowDefinition:
        if request.definition is not None:
            try:
                return load_definition(request.definition, "definition")
            except WorkflowDefinitionError as exc:
                raise ApplicationError(
                    f"invalid workflow definition:\n{exc}",
                    [p.as_dict() for p in exc.problems],
                    type=ERROR_INVALID_DEFINITION,
                    non_retryable=True,
                ) from None
        assert request.workflow is not None
        try:
            resolved: ResolvedWorkflow = await workflow.execute_activity(
                ACTIVITY_RESOLVE_WORKFLOW,
                ResolveRequest(name=request.workflow),
                result_type=ResolvedWorkflow,
                start_to_close_timeout=timedelta(seconds=code_defaults.RESOLVE_TIMEOUT_SECONDS),
                retry_policy=TemporalRetryPolicy(maximum_attempts=3),
                summary=f"resolve workflow `{request.workflow}`",
            )
        except ActivityError as exc:
            raise ApplicationError(
                _cause_message(exc), type=ERROR_INVALID_DEFINITION, non_retryable=True
            ) from None
        return resolved.definition

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

    async def _deadline(self, seconds: float) -> None:
        await workflow.sleep(seconds)
        self._timed_out = True

    # --- applying scheduler decisions ------------------------------------------------

    def _apply(self, first: Decision) -> None:
        queue = deque([first])
        while queue:
            decision = queue.popleft()
            now = workflow.now()
            for step_id, reason in decision.skipped:
                self._set(step_id, status="skipped", reason=reason, ended_at=now.isoformat())
            for step_id, status in decision.finished:
                record = self._records[step_id]
                node = self._dag.nodes[step_id]
                if isinstance(node.step, ParallelStep):
                    record.output = {c: self._records[c].output for c in node.children}
                    record.outputs = bind_outputs(node.step.output, record.output, [])
                self._set(step_id, status=status.value, ended_at=now.isoformat())
                self._stamp_duration(record)
            for step_id in decision.start:
                queue.append(self._start(self._dag.nodes[step_id]))

    def _start(self, node: Node) -> Decision:
        step = node.step
        record = self._records[node.id]
        record.started_at = workflow.now().isoformat()
        try:
            if step.when is not None and not evaluate_condition(step.when, self._context.data):
                self._set(
                    node.id, status="skipped", reason="`when` was false", ended_at=record.started_at
                )
                return self._scheduler.finish(node.id, Status.SKIPPED, "`when` was false")
        except TemplateFailure as exc:
            return self._fail(node, f"`when` could not be evaluated: {exc}")
        self._set(node.id, status="running")
        decision = self._scheduler.running(node.id)
        if isinstance(step, ParallelStep):
            return decision
        if isinstance(step, BranchStep):
            return self._merge(decision, self._choose(node, step))
        if isinstance(step, LlmStep | EmbedStep):
            self._check_budget(node.id)
        self._tasks[node.id] = asyncio.create_task(self._run_leaf(node))
        return decision

    def _check_budget(self, step_id: str) -> None:
        """Refuse to start another model step once the run's `budget` is exceeded."""
        budget = self._definition_model.budget
        if budget is None:
            return
        spent = self._progress.usage
        tokens = spent.input_tokens + spent.output_tokens
        over = []
        if budget.max_usd is not None and spent.cost_usd > budget.max_usd:
            over.append(f"spent ${spent.cost_usd:.6f} of budget.max_usd ${budget.max_usd:g}")
        if budget.max_tokens is not None and tokens > budget.max_tokens:
            over.append(f"used {tokens} tokens of budget.max_tokens {budget.max_tokens}")
        if over:
            self._set(step_id, status="skipped", reason="budget exceeded")
            raise ApplicationError(
                f"budget exceeded before step `{step_id}`: " + "; ".join(over),
                {"cost_usd": spent.cost_usd, "tokens": tokens},
                type=ERROR_BUDGET_EXCEEDED,
                non_retryable=True,
            )

    def _choose(self, node: Node, step: BranchStep) -> Decision:
        try:
            value = render_value(
                step.condition if "{{" in step.condition else "{{ " + step.condition + " }}",
                self._context.data,
            )
        except TemplateFailure as exc:
            return self._fail(node, f"branch condition could not be evaluated: {exc}")
        case = _case_name(value)
        if case not in step.branches:
            case = "default" if step.default else case
        record = self._records[node.id]
        record.output = case
        record.outputs = bind_outputs(step.output, case, [])
        self._context.update(node.id, record)
        return self._scheduler.choose(node.id, case)

    def _fail(self, node: Node, message: str) -> Decision:
        """A step failed before or without an activity (template, condition)."""
        self._events.append((node.id, _StepFailed(message)))
        self._set(node.id, status="running")
        return self._scheduler.running(node.id)

    @staticmethod
    def _merge(first: Decision, second: Decision) -> Decision:
        first.start += second.start
        first.skipped += second.skipped
        first.finished += second.finished
        return first

    # --- leaf steps -------------------------------------------------------------------

    async def _run_leaf(self, node: Node) -> None:
        try:
            outcome = await self._execute(node)
        except _StepFailed as exc:
            self._events.append((node.id, exc))
        except ActivityError as exc:
            attempts = _attempts(exc)
            if not attempts and exc.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
                attempts = _retry_policy(node.step, self._definition_model).maximum_attempts
            message = _cause_message(exc)
            if isinstance(exc.cause, TimeoutError):
                message = (
                    f"timed out: no result within the step's timeout of "
                    f"{self._timeout(node.step):g}s ({message})"
                )
            self._events.append((node.id, _StepFailed(message, attempts)))
        except asyncio.CancelledError:
            self._events.append((node.id, _StepFailed("cancelled")))
            raise
        else:
            self._events.append((node.id, outcome))

    async def _execute(self, node: Node) -> StepOutcome:
        step = self._resolved(node.step)
        request: Any
        if isinstance(step, LlmStep):
            activity, request = ACTIVITY_LLM, LlmRequest(step=step, offline=self._offline)
        elif isinstance(step, EmbedStep):
            activity, request = ACTIVITY_EMBED, EmbedRequest(step=step, offline=self._offline)
        elif isinstance(step, VectorSearchStep):
            activity = ACTIVITY_VECTOR_SEARCH
            request = VectorSearchRequest(step=step, offline=self._offline)
        elif isinstance(step, TransformStep):
            rendered = None
            if step.template is not None:
                try:
                    rendered = render_value(step.template, self._context.data)
                except TemplateFailure as exc:
                    raise _StepFailed(f"template error: {exc}") from None
            activity = ACTIVITY_TRANSFORM
            request = TransformRequest(step=step, rendered=rendered)
        elif isinstance(step, ActionStep) and step.action not in BUILTIN_ACTIONS:
            # a custom activity registered on the worker under the action's name
            activity, request = step.action, step.params
        elif isinstance(step, ActionStep):
            info = workflow.info()
            activity = ACTIVITY_ACTION
            request = ActionRequest(step=step, workflow_id=info.workflow_id, run_id=info.run_id)
        else:  # containers never reach here
            raise _StepFailed(f"`{step.type}` steps do not run as activities")
        timeout = self._timeout(step)
        outcome = await workflow.execute_activity(
            activity,
            request,
            result_type=StepOutcome if activity in _STEP_ACTIVITIES else None,
            start_to_close_timeout=timedelta(seconds=timeout),
            retry_policy=_retry_policy(step, self._definition_model),
            # a stream that stops sending tokens is dead even if its connection stays open
            heartbeat_timeout=(
                timedelta(seconds=min(code_defaults.STREAM_HEARTBEAT_SECONDS, timeout / 2))
                if isinstance(step, LlmStep) and step.stream
                else None
            ),
            summary=f"{node.id} · {describe_step(step, self._definition_model)}",
        )
        if isinstance(outcome, StepOutcome):
            return outcome
        # a custom activity's result is its own; its attempt count is not reported (0)
        return StepOutcome(output=outcome, attempt=0)

    def _timeout(self, step: AnyStep) -> float:
        defaults = self._definition_model.defaults
        return step.timeout or defaults.timeout or code_defaults.STEP_TIMEOUT_SECONDS

    def _resolved(self, step: AnyStep) -> AnyStep:
        """The step with its templates rendered and file defaults filled in."""
        fields = _RENDERED_FIELDS.get(type(step), ())
        context = self._context.data
        update: dict[str, Any] = {}
        try:
            for name in fields:
                value = getattr(step, name)
                if isinstance(value, list) and value and isinstance(value[0], BaseModel):
                    update[name] = [
                        item.model_copy(update={"content": render_value(item.content, context)})
                        for item in value
                    ]
                elif value is not None:
                    update[name] = render_value(value, context)
        except TemplateFailure as exc:
            raise _StepFailed(f"template error: {exc}") from None
        defaults = self._definition_model.defaults
        if isinstance(step, LlmStep):
            update.setdefault(
                "provider", step.provider or defaults.provider or code_defaults.LLM_PROVIDER
            )
            update["model"] = step.model or defaults.model or code_defaults.LLM_MODEL
            if step.temperature is None and defaults.temperature is not None:
                update["temperature"] = defaults.temperature
            if step.max_tokens is None and defaults.max_tokens is not None:
                update["max_tokens"] = defaults.max_tokens
        elif isinstance(step, VectorSearchStep) and step.embedder is None:
            provider = defaults.embedding_provider or code_defaults.EMBEDDING_PROVIDER
            model = defaults.embedding_model or code_defaults.EMBEDDING_MODEL
            update["embedder"] = f"{provider}/{model}"
        elif isinstance(step, EmbedStep):
            update["provider"] = (
                step.provider or defaults.embedding_provider or code_defaults.EMBEDDING_PROVIDER
            )
            update["model"] = (
                step.model or defaults.embedding_model or code_defaults.EMBEDDING_MODEL
            )
        try:
            return type(step).model_validate({**step.model_dump(by_alias=True), **update})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise _StepFailed(f"after rendering templates: {problems}") from None

    def _finish_leaf(self, step_id: str, result: StepOutcome | _StepFailed) -> None:
        node = self._dag.nodes[step_id]
        record = self._records[step_id]
        now = workflow.now()
        if isinstance(result, _StepFailed):
            record.error = str(result)
            record.attempts = max(result.attempts, record.attempts)
            self._set(step_id, status="failed", ended_at=now.isoformat())
            self._stamp_duration(record)
            if not node.step.continue_on_error:
                raise ApplicationError(
                    f"step `{step_id}` failed: {result}", type=ERROR_STEP_FAILED, non_retryable=True
                )
            self._apply(self._scheduler.finish(step_id, Status.FAILED, str(result)))
            return
        record.output = result.output
        record.outputs = bind_outputs(node.step.output, result.output, result.extras)
        record.attempts = result.attempt
        if result.usage is not None:
            record.usage = result.usage
            self._progress.usage = self._progress.usage + result.usage
        self._set(step_id, status="completed", ended_at=now.isoformat())
        self._stamp_duration(record)
        self._apply(self._scheduler.finish(step_id, Status.COMPLETED))

    async def _abort(self, why: str) -> None:
        """Cancel every running step deliberately and wait until they have stopped."""
        running = [task for task in self._tasks.values() if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for record in self._records.values():
            if record.status == "running":
                record.status = "failed"
                record.error = f"cancelled: {why}"

    # --- bookkeeping ---------------------------------------------------------------------

    def _set(self, step_id: str, **changes: Any) -> None:
        record = self._records[step_id]
        for key, value in changes.items():
            setattr(record, key, value)
        self._context.update(step_id, record)

    @staticmethod
    def _stamp_duration(record: StepRecord) -> None:
        if record.started_at and record.ended_at:
            start = datetime.fromisoformat(record.started_at)
            end = datetime.fromisoformat(record.ended_at)
            record.duration_ms = _ms(end - start)


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _case_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value).strip()


def _retry_policy(step: AnyStep, definition: WorkflowDefinition) -> TemporalRetryPolicy:
    policy = step.retry or definition.defaults.retry or code_defaults.RETRY
    return TemporalRetryPolicy(
        initial_interval=timedelta(seconds=policy.initial_interval),
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=(
            timedelta(seconds=policy.max_interval) if policy.max_interval is not None else None
        ),
        maximum_attempts=policy.max_attempts,
        non_retryable_error_types=list(policy.non_retryable_errors) or None,
    )


def _cause_message(exc: FailureError) -> str:
    """The innermost failure's message: what the provider or our code actually said."""
    cause: BaseException | None = exc
    message = str(exc)
    while isinstance(cause, FailureError):
        message = cause.message or message
        if isinstance(cause, ApplicationError) and cause.type:
            message = f"{cause.message} [{cause.type}]"
        cause = cause.cause
    return message


def _attempts(exc: ActivityError) -> int:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[-1]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    return 0

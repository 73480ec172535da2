"""Rerunning a run from a step: read the old run back, decide what to reuse, check the edit.

A rerun is a *new* run whose start input carries, for every step it reuses, the
result that step recorded in the old run (``RunInput.reuse``); the workflow gives
those steps status ``reused`` without running them. What is reused is decided here,
outside the workflow, from three things the old run pinned:

- its definition: the start input's ``definition``, or for a catalog name the result
  of its ``resolve_workflow`` activity, both read from its history (so a catalog that
  has changed since does not matter);
- its inputs (the start input's);
- its step records: the ``progress`` query (a worker replays the closed run's history
  to answer it; the full records), else a completed run's result if it kept them
  (``RunInput.records``: a result carries only each step's status otherwise).

STEP and everything downstream of it (the steps that wait for it, directly or not, the
steps a group contains, the steps a branch guards) run again; so do the steps the old
run did not complete. A step to be reused must be unchanged in the edited file: each
step has a content hash over its definition, the inputs it mentions, the workflow's
``defaults``, and the hashes of the steps it waits for, so an upstream edit
propagates. The unit of reuse is a step of the graph (a whole `map`, `loop` or
`workflow` step; each step of a `parallel` group; a `branch` takes its old case).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from interpreter.catalog import ResolvedWorkflow
from interpreter.contract import (
    ACTIVITY_RESOLVE_WORKFLOW,
    QUERY_PROGRESS,
    Progress,
    ReusedStep,
    RunInput,
    RunRef,
    RunResult,
    StepRecord,
)
from interpreter.dag import Dag
from interpreter.errors import OrchestratorError
from interpreter.hints import nearest
from interpreter.inputs import resolve_inputs
from interpreter.library import load_with_library
from interpreter.loader import load_definition
from interpreter.models import WorkflowDefinition
from interpreter.steps import GroupKind
from llm_orchestrator.exits import ExitCode
from llm_orchestrator.options import RerunOptions
from llm_orchestrator.progress import Reporter, print_json
from llm_orchestrator.request import parse_inputs, parse_value, start_input

__all__ = [
    "MEMO_RERUN_OF",
    "OldRun",
    "RerunPlan",
    "RerunRefused",
    "command",
    "plan_rerun",
    "read_old_run",
    "refusal",
    "step_hashes",
]

MEMO_RERUN_OF = "rerun_of"
"""Memo key of a rerun: ``{"workflow_id": ..., "run_id": ...}`` of the run it reruns."""

_SUCCEEDED = ("completed", "reused")
_QUERY_TIMEOUT = timedelta(seconds=15)
_CANCEL_WAIT = timedelta(seconds=60)


class RerunRefused(OrchestratorError):
    """The rerun would reuse changed steps or repeat side effects, and was not told to."""

    def __init__(self, message: str, *, changed: Sequence[str] = (), actions: Sequence[str] = ()):
        super().__init__(message)
        self.changed = tuple(changed)
        self.actions = tuple(actions)


@dataclass(frozen=True, slots=True)
class OldRun:
    """What a closed run pinned: its start input, definition and step records."""

    ref: RunRef
    state: str
    """Temporal's status, lower case: completed, failed, canceled, timed_out, terminated."""
    task_queue: str
    request: RunInput
    definition: WorkflowDefinition
    library: dict[str, dict[str, Any]]
    records: dict[str, StepRecord]
    records_from: str
    """Where the records came from: ``progress query`` or ``result``."""


@dataclass(frozen=True, slots=True)
class RerunPlan:
    """A rerun decided: the start input of the new run and what it will and will not do."""

    old: OldRun
    request: RunInput
    definition: WorkflowDefinition
    start_from: str | None
    """The step it reruns from (``None``: only ``--set`` steps' dependents, or nothing)."""
    reused: tuple[str, ...]
    rerun: tuple[str, ...]
    """Steps that will run (again), in graph order; the steps of no reuse or mock."""
    changed: tuple[str, ...] = ()
    """Reused steps that the edited file or inputs changed (refused unless forced)."""
    actions: tuple[str, ...] = ()
    """`action` steps that ran in the old run and will run again (side effects)."""
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- reading the old run ----------------------------------------------------------------


async def read_old_run(
    client: Client, workflow_id: str, run_id: str | None = None, *, cancel_old: bool = False
) -> OldRun:
    """The closed run ``workflow_id`` (its latest run unless ``run_id``), read back.

    A run still running is refused, or with ``cancel_old`` cancelled and waited for.
    """
    handle: WorkflowHandle[Any, RunResult] = client.get_workflow_handle(
        workflow_id, run_id=run_id, result_type=RunResult
    )
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise OrchestratorError(
                f"no run with id {workflow_id}"
                + (f" and run id {run_id}" if run_id else "")
                + "; `llm-orchestrator list` shows recent runs"
            ) from None
        raise OrchestratorError(f"run {workflow_id}: {exc.message}") from None
    handle = client.get_workflow_handle(
        workflow_id, run_id=description.run_id, result_type=RunResult
    )
    if description.status == WorkflowExecutionStatus.RUNNING:
        if not cancel_old:
            raise OrchestratorError(
                f"run {workflow_id} is still running: wait for it to end, cancel it "
                f"(`llm-orchestrator cancel {workflow_id}`), or pass --cancel-old to cancel "
                "it before the rerun starts"
            )
        await handle.cancel()
        description = await _closed(handle)
    status = description.status
    state = status.name.lower() if status is not None else "unknown"
    request, definition, library = await _pinned(client, handle)
    records, source = await _records(handle, status)
    return OldRun(
        ref=RunRef(workflow_id=workflow_id, run_id=description.run_id),
        state=state,
        task_queue=description.task_queue,
        request=request,
        definition=definition,
        library=library,
        records=records,
        records_from=source,
    )


async def _closed(handle: WorkflowHandle[Any, RunResult]) -> WorkflowExecutionDescription:
    """Wait for a cancelled run to close (a worker carries the cancellation out)."""
    for _ in range(int(_CANCEL_WAIT.total_seconds() * 10)):
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return description
        await asyncio.sleep(0.1)
    raise OrchestratorError(
        f"run {handle.id} was asked to cancel but is still running after "
        f"{_CANCEL_WAIT.total_seconds():g} s: is a worker polling its task queue?"
    )


async def _pinned(
    client: Client, handle: WorkflowHandle[Any, RunResult]
) -> tuple[RunInput, WorkflowDefinition, dict[str, dict[str, Any]]]:
    """The old run's start input, and the definition and library it ran (from its history)."""
    converter = client.data_converter
    request: RunInput | None = None
    resolve_scheduled: int | None = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [raw] = await converter.decode(list(payloads), [dict])
            request = RunInput.model_validate(raw)
            if request.definition is not None:
                definition = load_definition(request.definition, "the old run's definition")
                return request, definition, request.library
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == ACTIVITY_RESOLVE_WORKFLOW:
                resolve_scheduled = event.event_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs_done = event.activity_task_completed_event_attributes
            if request is not None and attrs_done.scheduled_event_id == resolve_scheduled:
                [resolved] = await converter.decode(
                    list(attrs_done.result.payloads), [ResolvedWorkflow]
                )
                assert isinstance(resolved, ResolvedWorkflow)
                return request, resolved.definition, {**resolved.library, **request.library}
    raise OrchestratorError(
        f"run {handle.id} never resolved its workflow"
        + (f" `{request.workflow}`" if request and request.workflow else "")
        + ": there is no definition to rerun"
    )


async def _records(
    handle: WorkflowHandle[Any, RunResult], status: WorkflowExecutionStatus | None
) -> tuple[dict[str, StepRecord], str]:
    """Every step's record: the ``progress`` query (a worker replays the closed run), else
    a completed run's result."""
    try:
        progress = await handle.query(
            QUERY_PROGRESS,
            result_type=Progress,
            rpc_timeout=_QUERY_TIMEOUT,
        )
        return dict(progress.steps), "progress query"
    except (RPCError, WorkflowQueryFailedError) as exc:
        problem = getattr(exc, "message", None) or str(exc)
    if status == WorkflowExecutionStatus.COMPLETED:
        steps = (await handle.result()).steps  # only when it kept its records (`records`)
        if steps:
            return dict(steps), "result"
    raise OrchestratorError(
        f"cannot read the steps of run {handle.id} ({problem}); a worker on its task queue "
        "answers that: start one with `llm-orchestrator worker`"
    )


# --- deciding what to reuse -------------------------------------------------------------


def step_hashes(definition: WorkflowDefinition, inputs: Mapping[str, Any]) -> dict[str, str]:
    """A content hash per step: its definition, the inputs it mentions, the workflow's
    ``defaults``, and the hashes of the steps it waits for (``depends_on``, its guarding
    branch), so that a change upstream changes every hash below it."""
    dag = Dag.build(definition)
    defaults = _canonical(definition.defaults.model_dump(mode="json", exclude_none=True))
    hashes: dict[str, str] = {}

    def of(step_id: str, seen: tuple[str, ...]) -> str:
        if step_id in hashes:
            return hashes[step_id]
        node = dag.nodes[step_id]
        text = _canonical(node.step.model_dump(mode="json", by_alias=True, exclude_none=True))
        used = {name: inputs.get(name) for name in sorted(inputs) if _mentions(text, name)}
        upstream = [*node.deps, *([node.guard[0]] if node.guard else [])]
        parts = [
            text,
            _canonical(used),
            defaults,
            *(of(u, (*seen, step_id)) for u in upstream if u in dag.nodes and u not in seen),
        ]
        hashes[step_id] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        return hashes[step_id]

    for step_id in dag.nodes:
        of(step_id, ())
    return hashes


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _mentions(text: str, name: str) -> bool:
    """Does a step's definition refer to input ``name`` (``inputs.name``, ``input.name``,
    ``inputs['name']``)? Conservative: any such spelling counts."""
    escaped = re.escape(name)
    return re.search(rf"inputs?(\.{escaped}\b|\[\\?['\"]{escaped}\\?['\"]\])", text) is not None


def downstream(dag: Dag, step_id: str) -> set[str]:
    """``step_id`` and every step that starts after it: its dependents, directly or not,
    the steps a group contains and the steps a branch guards (``Dag.ancestors``)."""
    out = {step_id}
    for other in dag.nodes:
        if other != step_id and dag.is_ancestor(other, step_id):
            out.add(other)
    for node_id in list(out):  # a container rerun reruns what it contains
        stack = list(dag.nodes[node_id].children)
        while stack:
            child = stack.pop()
            if child not in out:
                out.add(child)
                stack.extend(dag.nodes[child].children)
    return out


def _resolved(definition: WorkflowDefinition, inputs: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return resolve_inputs(definition, dict(inputs))
    except OrchestratorError:  # the old run's inputs were checked by its worker; keep as given
        return dict(inputs)


def _first_failed(dag: Dag, records: Mapping[str, StepRecord]) -> str | None:
    """The first failed step in graph order: one with no failed step before it. A run that
    ended with no failed step (timed out by Temporal, terminated): its first unfinished one."""
    failed = [s for s in dag.nodes if (r := records.get(s)) is not None and r.status == "failed"]
    if not failed:
        unfinished = ("running", "pending")
        failed = [s for s in dag.nodes if (r := records.get(s)) and r.status in unfinished]
    for step_id in failed:
        if not any(dag.is_ancestor(step_id, other) for other in failed if other != step_id):
            # a container fails with its child: the child is where it went wrong
            inner = [c for c in failed if step_id in dag.enclosing(c)]
            return inner[0] if inner else step_id
    return None


def plan_rerun(
    old: OldRun,
    *,
    start_from: str | None = None,
    file: Path | None = None,
    inputs: Sequence[str] = (),
    sets: Sequence[str] = (),
) -> RerunPlan:
    """Decide a rerun of ``old``: which steps are reused, which run again, what changed.

    Raises :class:`OrchestratorError` for a step that does not exist (with a did-you-mean)
    and for a completed run with neither ``start_from`` nor ``sets``.
    """
    if file is not None:
        definition, library = load_with_library(file)
    else:
        definition, library = old.definition, old.library
    dag = Dag.build(definition)
    given = {**old.request.inputs, **parse_inputs(tuple(inputs), definition.inputs)}
    resolved = resolve_inputs(definition, given)  # a bad input fails here, not in the run

    def known(step_id: str, flag: str) -> str:
        if step_id not in dag.nodes:
            hint = nearest(step_id, dag.nodes)
            raise OrchestratorError(
                f"{flag}: the workflow has no step `{step_id}`" + (f"; {hint}" if hint else "")
            )
        return step_id

    mocks: dict[str, Any] = {}
    for item in sets:
        step_id, sep, raw = item.partition("=")
        if not sep or not step_id.strip():
            raise OrchestratorError(f"--set {item!r}: write STEP=JSON")
        step_id = known(step_id.strip(), f"--set {item}")
        if isinstance(dag.nodes[step_id].kind, GroupKind):
            raise OrchestratorError(f"--set {item}: `{step_id}` is a group; set its steps")
        mocks[step_id] = parse_value(raw, f"--set {item}")

    notes: list[str] = []
    if start_from is not None:
        start_from = known(start_from, "--from")
    elif old.state == "completed" and not mocks:
        raise OrchestratorError(
            f"run {old.ref.workflow_id} completed: give --from STEP (the step to run again "
            f"from; the steps are {', '.join(dag.nodes)}) or --set STEP=JSON"
        )
    else:
        start_from = _first_failed(Dag.build(old.definition), old.records)
        if start_from is not None and start_from not in dag.nodes:
            notes.append(f"the failed step `{start_from}` is not in the edited file")
            start_from = None
    again: set[str] = set()
    if start_from is not None:
        again |= downstream(dag, start_from)
    for step_id in mocks:
        again |= downstream(dag, step_id) - {step_id}

    # over the inputs as the runs saw them (defaults filled in): `x=1` given twice is no change
    old_hashes = step_hashes(old.definition, _resolved(old.definition, old.request.inputs))
    new_hashes = step_hashes(definition, resolved)
    old_mocks = {k: v for k, v in old.request.mocks.items() if k in dag.nodes and k not in again}
    mocks = {**old_mocks, **mocks}
    reuse: dict[str, ReusedStep] = {}
    changed: list[str] = []
    for step_id, node in dag.nodes.items():
        record = old.records.get(step_id)
        if (
            step_id in again
            or step_id in mocks
            or record is None
            or record.status not in _SUCCEEDED
            or isinstance(node.kind, GroupKind)
        ):
            continue
        names = node.step.output
        reuse[step_id] = ReusedStep(
            output=record.output,
            extras=[record.outputs.get(name) for name in names[1:]],
            usage=record.usage,
            transcript=record.transcript,
        )
        if old_hashes.get(step_id) != new_hashes[step_id]:
            changed.append(step_id)
    rerun = tuple(s for s in dag.nodes if s not in reuse and s not in mocks)
    actions = tuple(
        s
        for s in rerun
        if dag.nodes[s].step.type == "action"
        and (r := old.records.get(s)) is not None
        and r.status in ("completed", "reused", "failed")
    )
    request = start_input(
        definition, given, offline=old.request.offline, mocks=mocks, library=library
    ).model_copy(update={"records": old.request.records, "reuse": reuse, "rerun_of": old.ref})
    return RerunPlan(
        old=old,
        request=request,
        definition=definition,
        start_from=start_from,
        reused=tuple(reuse),
        rerun=rerun,
        changed=tuple(changed),
        actions=actions,
        notes=tuple(notes),
    )


def refusal(plan: RerunPlan, *, force: bool, yes: bool) -> RerunRefused | None:
    """Why the plan must not start as it is (changed reused steps without ``force``,
    repeated `action` steps without ``yes``), or ``None``."""
    if plan.changed and not force:
        steps = ", ".join(f"`{s}`" for s in plan.changed)
        return RerunRefused(
            f"the edited workflow or inputs changed {steps}, which the rerun would reuse from "
            f"run {plan.old.ref.workflow_id}: rerun from the first of them (--from "
            f"{plan.changed[0]}), or pass --force to reuse their old outputs anyway",
            changed=plan.changed,
        )
    if plan.actions and not yes:
        steps = ", ".join(f"`{s}`" for s in plan.actions)
        return RerunRefused(
            f"the rerun runs these `action` steps again (side effects): {steps}; "
            "pass --yes to go ahead",
            actions=plan.actions,
        )
    return None


# --- the `rerun` command ---------------------------------------------------------------------


def command(opts: RerunOptions) -> int:
    """`rerun`: plan, say what is reused and what runs again, confirm, start (and wait)."""
    from llm_orchestrator.connect import connect
    from llm_orchestrator.runs import cli_command, follow, web_ui_url
    from llm_orchestrator.sdk.client import Orchestrator

    reporter = Reporter()

    async def go() -> int:
        orch = Orchestrator(await connect(opts.connection))
        plan = await orch.plan_rerun(
            opts.workflow_id,
            start_from=opts.start_from,
            file=opts.file,
            inputs=opts.inputs,
            sets=opts.sets,
            run_id=opts.run_id,
            cancel_old=opts.cancel_old,
        )
        _tell_plan(plan, reporter)
        yes = opts.yes
        if plan.actions and not yes and not plan.changed and sys.stdin.isatty():
            steps = ", ".join(plan.actions)
            answer = input(f"run the `action` steps {steps} again (side effects)? [y/N] ")
            yes = answer.strip().lower() in ("y", "yes")
            if not yes:
                reporter.tell("not started")
                return ExitCode.FAILED
        run = await orch.start_rerun(plan, force=opts.force, yes=yes, id=opts.new_id)
        url = web_ui_url(orch.client, opts.connection, run.id, run.run_id)
        ids = {"workflow_id": run.id, "run_id": run.run_id, "ui_url": url}
        if opts.wait:
            reporter.say(f"rerun {run.id} started; waiting for it")
            return await follow(run.handle, reporter, json_output=opts.json)
        if opts.json:
            print_json({**ids, "rerun_of": plan.old.ref.model_dump(), "reused": plan.reused,
                        "rerun": plan.rerun})  # fmt: skip
        else:
            print(f"workflow id  {run.id}")
            print(f"run id       {run.run_id}")
            print(f"Web UI       {url or 'unknown for this server (set --ui-url)'}")
            print(f"result       {cli_command('result', run.id, connection=opts.connection)}",
                  flush=True)  # fmt: skip
        return ExitCode.OK

    return asyncio.run(go())


def _tell_plan(plan: RerunPlan, reporter: Reporter) -> None:
    """What the rerun will do, on stderr."""
    old = plan.old
    reporter.say(
        f"rerun of {old.ref.workflow_id} ({old.state}; its steps from the {old.records_from})"
        + (f" from step `{plan.start_from}`" if plan.start_from else "")
    )
    reporter.say(f"  reused:  {', '.join(plan.reused) or 'none'}")
    if plan.request.mocks:
        reporter.say(f"  given:   {', '.join(plan.request.mocks)}")
    reporter.say(f"  run:     {', '.join(plan.rerun) or 'none'}")
    for note in plan.notes:
        reporter.say(f"  note:    {note}")
    if plan.actions:
        reporter.tell(f"  `action` steps that run again (side effects): {', '.join(plan.actions)}")

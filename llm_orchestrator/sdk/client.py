"""Run workflows from Python: :class:`Orchestrator` over ``temporalio.client``.

::

    orch = await Orchestrator.connect()                   # as the CLI connects
    result = await orch.run(triage, {"ticket": "..."})    # a builder, a file, or a name
    run = await orch.start("support-triage", {"ticket": "..."})
    await orch.approve(run.id, "review", comment="fine")
    result = await run.result()

    new = await orch.rerun(run.id, start_from="summarize", file="edited.yaml")

The CLI's `start`, `approve`, `cancel` and `rerun` go through these same methods, so a
script and the command line start and steer runs the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from interpreter.contract import (
    DEFAULT_TASK_QUEUE,
    QUERY_PROGRESS,
    UPDATE_APPROVE,
    WORKFLOW_TYPE,
    Decision,
    Progress,
    RunInput,
    RunResult,
)
from interpreter.diagram import to_mermaid
from interpreter.errors import OrchestratorError
from interpreter.library import load_with_library
from interpreter.models import WorkflowDefinition
from llm_orchestrator.connect import connect
from llm_orchestrator.options import ConnectionOptions
from llm_orchestrator.request import start_input
from llm_orchestrator.rerun import (
    MEMO_RERUN_OF,
    RerunPlan,
    plan_rerun,
    read_old_run,
    refusal,
)
from llm_orchestrator.sdk.builder import Workflow

__all__ = ["Orchestrator", "Run", "WorkflowRef"]

WorkflowRef = Workflow | WorkflowDefinition | Path | str
"""What a run can be started from: a builder, a checked definition, a file's path, or
the name of a workflow in the worker's catalog (a ``str`` ending in ``.yaml``,
``.yml`` or ``.json`` is a path)."""


@dataclass(frozen=True, slots=True)
class Run:
    """A started run: its id, and what can be asked of it."""

    id: str
    run_id: str | None
    handle: WorkflowHandle[Any, RunResult]

    async def result(self) -> RunResult:
        """Wait for the run; a failed run raises ``temporalio.client.WorkflowFailureError``."""
        return await self.handle.result()

    async def progress(self) -> Progress:
        """Every step's status so far (the ``progress`` query; needs a worker)."""
        progress: Progress = await self.handle.query(QUERY_PROGRESS, result_type=Progress)
        return progress


class Orchestrator:
    """Start and steer `DagWorkflow` runs on one Temporal namespace and task queue."""

    def __init__(self, client: Client, *, task_queue: str = DEFAULT_TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    @classmethod
    async def connect(
        cls,
        address: str | None = None,
        *,
        namespace: str | None = None,
        profile: str | None = None,
        task_queue: str = DEFAULT_TASK_QUEUE,
        wait: float = 0.0,
    ) -> Orchestrator:
        """Connect as the CLI does (flags over ``TEMPORAL_*`` and the Temporal config
        file's profiles; large payloads to the payload store)."""
        options = ConnectionOptions(
            address=address, namespace=namespace, profile=profile, task_queue=task_queue
        )
        return cls(await connect(options, wait=wait), task_queue=task_queue)

    def request(
        self,
        workflow: WorkflowRef,
        inputs: Mapping[str, Any] | None = None,
        *,
        offline: bool = False,
        mocks: Mapping[str, Any] | None = None,
    ) -> tuple[RunInput, WorkflowDefinition | None]:
        """The start input for ``workflow`` (checked, inputs and mock step ids, before
        anything starts; ``llm_orchestrator.request.start_input``, as for the CLI) and its
        definition (``None`` for a catalog name: the worker checks it)."""
        library: dict[str, dict[str, Any]] = {}
        source: WorkflowDefinition | str
        if isinstance(workflow, Workflow):
            source = workflow.definition()
        elif isinstance(workflow, WorkflowDefinition):
            source = workflow
        elif isinstance(workflow, Path) or workflow.endswith((".yaml", ".yml", ".json")):
            source, library = load_with_library(Path(workflow))
        else:
            source = workflow  # a catalog name
        request = start_input(
            source, inputs or {}, offline=offline, mocks=mocks or {}, library=library
        )
        return request, source if isinstance(source, WorkflowDefinition) else None

    async def start(
        self,
        workflow: WorkflowRef,
        inputs: Mapping[str, Any] | None = None,
        *,
        offline: bool = False,
        mocks: Mapping[str, Any] | None = None,
        id: str | None = None,
    ) -> Run:
        """Start a run and return at once."""
        request, definition = self.request(workflow, inputs, offline=offline, mocks=mocks)
        return await self.start_request(request, definition, id=id)

    async def start_request(
        self,
        request: RunInput,
        definition: WorkflowDefinition | None,
        *,
        id: str | None = None,
        eager: bool = False,
        task_queue: str | None = None,
        memo: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run from a prepared start input (what :meth:`start` builds; the CLI
        builds it from its flags); a duplicate id of a running run is one plain error.

        ``eager``: a worker on this task queue runs in this process on this client, so
        ask the server to hand it the first workflow task in its reply to the start
        (eager workflow start) instead of through the task queue: the run begins one
        matching-service round trip sooner (docs/performance.md, "Start-up"). The server
        falls back to a normal start when it cannot (no free slot, disabled).
        ``task_queue``: another than this orchestrator's (a rerun goes where its old run
        went); ``memo``: the run's Temporal memo.
        """
        name = definition.name if definition else request.workflow or "run"
        workflow_id = id or f"{_slug(name)}-{uuid.uuid4().hex[:8]}"
        try:
            handle = await self.client.start_workflow(
                WORKFLOW_TYPE,
                request,
                id=workflow_id,
                task_queue=task_queue or self.task_queue,
                result_type=RunResult,
                static_summary=f"{definition.name} v{definition.version}" if definition else name,
                static_details=f"```mermaid\n{to_mermaid(definition)}```" if definition else None,
                request_eager_start=eager,
                memo=dict(memo) if memo else None,
            )
        except WorkflowAlreadyStartedError:
            raise OrchestratorError(
                f"a run with id {workflow_id} is already running; use `llm-orchestrator status "
                f"{workflow_id}` or `llm-orchestrator result {workflow_id}`, or another --id"
            ) from None
        return Run(handle.id, handle.result_run_id, handle)

    async def run(
        self,
        workflow: WorkflowRef,
        inputs: Mapping[str, Any] | None = None,
        *,
        offline: bool = False,
        mocks: Mapping[str, Any] | None = None,
        id: str | None = None,
    ) -> RunResult:
        """Start a run and wait for its result."""
        started = await self.start(workflow, inputs, offline=offline, mocks=mocks, id=id)
        return await started.result()

    def get(self, workflow_id: str, run_id: str | None = None) -> Run:
        """A run started earlier, by id (the latest run with that id unless ``run_id``)."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id, result_type=RunResult)
        return Run(workflow_id, run_id, handle)

    async def result(self, workflow_id: str, run_id: str | None = None) -> RunResult:
        """Wait for a run's result."""
        return await self.get(workflow_id, run_id).result()

    async def progress(self, workflow_id: str, run_id: str | None = None) -> Progress:
        """A run's steps so far (the ``progress`` query)."""
        return await self.get(workflow_id, run_id).progress()

    async def approve(
        self,
        workflow_id: str,
        step: str,
        *,
        approved: bool = True,
        by: str | None = None,
        comment: str | None = None,
        data: Any = None,
        run_id: str | None = None,
    ) -> str:
        """Decide an `approval` step (the ``approve`` Update); returns the run's answer.

        A decision the run cannot take (no such step waiting, decided already) raises
        :class:`OrchestratorError` with the run's reason."""
        decision = Decision(step=step, approved=approved, by=by, comment=comment, data=data)
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            answer: str = await handle.execute_update(UPDATE_APPROVE, decision, result_type=str)
        except WorkflowUpdateFailedError as exc:
            reason = getattr(exc.cause, "message", None) or str(exc.cause)
            raise OrchestratorError(f"run {workflow_id}: {reason}") from None
        return answer

    async def signal(
        self, workflow_id: str, name: str, payload: Any = None, *, run_id: str | None = None
    ) -> None:
        """Send a named signal; a `wait` step waiting for ``name`` takes ``payload`` as its
        output (one sent before the step waits is kept for it)."""
        await self.client.get_workflow_handle(workflow_id, run_id=run_id).signal(name, payload)

    async def cancel(self, workflow_id: str, run_id: str | None = None) -> None:
        """Ask Temporal to cancel a run; its running steps are cancelled."""
        try:
            await self.client.get_workflow_handle(workflow_id, run_id=run_id).cancel()
        except RPCError as exc:
            raise OrchestratorError(f"run {workflow_id}: {exc.message}") from None

    async def plan_rerun(
        self,
        workflow_id: str,
        *,
        start_from: str | None = None,
        file: Path | str | None = None,
        inputs: Sequence[str] = (),
        sets: Sequence[str] = (),
        run_id: str | None = None,
        cancel_old: bool = False,
    ) -> RerunPlan:
        """Decide a rerun of a closed run without starting it: what it reuses, what it runs
        again, which reused steps an edit changed, which `action` steps repeat.

        ``inputs`` and ``sets`` are written as on the command line (``KEY=VALUE``,
        ``STEP=JSON``). A run still running is refused, or cancelled with ``cancel_old``.
        """
        old = await read_old_run(self.client, workflow_id, run_id, cancel_old=cancel_old)
        return plan_rerun(
            old,
            start_from=start_from,
            file=Path(file) if file is not None else None,
            inputs=inputs,
            sets=sets,
        )

    async def start_rerun(
        self, plan: RerunPlan, *, force: bool = False, yes: bool = False, id: str | None = None
    ) -> Run:
        """Start a planned rerun on the old run's task queue, linked to it in its memo.

        Raises :class:`~llm_orchestrator.rerun.RerunRefused` when the plan reuses changed
        steps (unless ``force``) or repeats `action` steps (unless ``yes``)."""
        refused = refusal(plan, force=force, yes=yes)
        if refused is not None:
            raise refused
        return await self.start_request(
            plan.request,
            plan.definition,
            id=id,
            task_queue=plan.old.task_queue,
            memo={MEMO_RERUN_OF: plan.old.ref.model_dump()},
        )

    async def rerun(
        self,
        workflow_id: str,
        *,
        start_from: str | None = None,
        file: Path | str | None = None,
        inputs: Sequence[str] = (),
        sets: Sequence[str] = (),
        force: bool = False,
        yes: bool = False,
        cancel_old: bool = False,
        run_id: str | None = None,
        id: str | None = None,
    ) -> Run:
        """Start a new run that reuses the old run's results up to ``start_from`` (default:
        its first failed step) and runs that step and everything after it, from ``file``
        when given (:meth:`plan_rerun`, then :meth:`start_rerun`; docs/runtime.md)."""
        plan = await self.plan_rerun(
            workflow_id,
            start_from=start_from,
            file=file,
            inputs=inputs,
            sets=sets,
            run_id=run_id,
            cancel_old=cancel_old,
        )
        return await self.start_rerun(plan, force=force, yes=yes, id=id)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-") or "run"

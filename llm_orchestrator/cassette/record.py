"""Record a finished run as a cassette: read its history (and its child runs') through the
client and keep the definition, the inputs, every activity's request and answer, and
how the run ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure as FailureProto
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from interpreter.contract import (
    ACTIVITY_RESOLVE_WORKFLOW,
    ACTIVITY_TRANSFORM,
    RunInput,
    RunResult,
)
from llm_orchestrator.cassette.format import (
    Call,
    Cassette,
    CassetteError,
    Expect,
    Failure,
    Source,
    stable_ids,
)

__all__ = ["NOT_RECORDED", "record_run"]

NOT_RECORDED = frozenset({ACTIVITY_RESOLVE_WORKFLOW, ACTIVITY_TRANSFORM})
"""Activities a replay runs for real: reading the catalog, and transforms (pure; computed
in the workflow now, only runs from before that scheduled the activity)."""


async def record_run(
    client: Client, workflow_id: str, run_id: str | None = None, *, source: Source | None = None
) -> Cassette:
    """The cassette of a finished run (``source``: where `test` reads the workflow later;
    by default the catalog name for a run started by name, else the pinned definition)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CassetteError(f"no run with id {workflow_id} on this server") from None
        raise
    if described.status == WorkflowExecutionStatus.RUNNING:
        raise CassetteError(f"run {workflow_id} is still running; record it once it has ended")
    if described.status not in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
        name = described.status.name.lower() if described.status else "unknown"
        raise CassetteError(f"run {workflow_id} {name}: only completed or failed runs are recorded")
    reader = _Reader(client, workflow_id)
    request, definition, library, expect = await reader.read(workflow_id, described.run_id)
    if source is None:
        source = Source(catalog=request.workflow) if request.workflow else Source()
    return Cassette(
        recorded_from={
            "workflow_id": workflow_id,
            "run_id": described.run_id,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        source=source,
        definition=definition,
        library=library,
        inputs=request.inputs,
        offline=request.offline,
        mocks=request.mocks,
        calls=reader.calls,
        expect=expect,
    )


class _Reader:
    """Walks a run's history and its children's, collecting the calls in order."""

    def __init__(self, client: Client, root_id: str) -> None:
        self._client = client
        self._root = root_id
        self.calls: list[Call] = []
        self._seen: dict[tuple[str, str | None, str], int] = {}

    async def read(
        self, workflow_id: str, run_id: str
    ) -> tuple[RunInput, dict[str, Any], dict[str, dict[str, Any]], Expect]:
        """Read one run (and, recursively, its children); the root's facts are returned."""
        history = await self._client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        path = workflow_id[len(self._root) + 1 :] if workflow_id != self._root else ""
        request = RunInput()
        scheduled: dict[int, tuple[str, str, Any]] = {}
        finished: dict[int, tuple[Any, Failure | None]] = {}
        children: list[tuple[str, str]] = []
        resolved: Any = None
        expect = Expect(status="failed", error="the run's history has no end")
        for event in history.events:
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                started = event.workflow_execution_started_event_attributes
                request = RunInput.model_validate(_one(await self._decode(started.input.payloads)))
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                asked = event.activity_task_scheduled_event_attributes
                args = await self._decode(asked.input.payloads)
                summary = await self._summary(event.user_metadata.summary)
                scheduled[event.event_id] = (asked.activity_type.name, summary, _one(args))
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                done = event.activity_task_completed_event_attributes
                activity = scheduled[done.scheduled_event_id][0]
                result = _one(await self._decode(done.result.payloads))
                if activity == ACTIVITY_RESOLVE_WORKFLOW and not path:
                    resolved = result
                finished[done.scheduled_event_id] = (result, None)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                failed = event.activity_task_failed_event_attributes
                finished[failed.scheduled_event_id] = (None, await self._failure(failed.failure))
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                timed_out = event.activity_task_timed_out_event_attributes
                timeout = await self._failure(timed_out.failure)
                finished[timed_out.scheduled_event_id] = (None, timeout)
            elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                children.append((child.workflow_id, child.run_id))
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                completed = event.workflow_execution_completed_event_attributes
                end = RunResult.model_validate(_one(await self._decode(completed.result.payloads)))
                expect = Expect(
                    status="completed",
                    outputs=stable_ids(end.outputs, self._root, run_id),
                    steps=dict(end.statuses()),
                )
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                ended = event.workflow_execution_failed_event_attributes
                message = (await self._failure(ended.failure)).message
                expect = Expect(status="failed", error=stable_ids(message, self._root, run_id))
        # in the order the run asked (completions arrive in any order): occurrences follow it
        for event_id, (activity, summary, payload) in sorted(scheduled.items()):
            if event_id in finished:
                answer, failure = finished[event_id]
                self._add(path, activity, summary, payload, answer, failure, run_id)
        for child_id, child_run_id in children:  # a run's own calls first, then its children's
            await self.read(child_id, child_run_id)
        definition = request.definition
        library = request.library
        if definition is None:
            if not isinstance(resolved, dict) or not isinstance(resolved.get("definition"), dict):
                raise CassetteError(
                    f"run {workflow_id} was started by catalog name and never resolved it: "
                    "nothing to record"
                )
            definition = resolved["definition"]
            library = {**resolved.get("library", {}), **library}
        return request, definition, library, expect

    def _add(self, path: str, activity: str, summary: str, request: Any, result: Any,
             failure: Failure | None, run_id: str) -> None:  # fmt: skip
        if activity in NOT_RECORDED:
            return
        step = _step_id(request)
        key = (path, step, activity)
        occurrence = self._seen.get(key, 0)
        self._seen[key] = occurrence + 1
        label = summary.split(" · ", 1)[0] if summary else None
        self.calls.append(
            Call(
                path=path,
                step=step,
                activity=activity,
                occurrence=occurrence,
                label=label if label and label != step else None,
                request=stable_ids(request, self._root, run_id),
                result=stable_ids(result, self._root, run_id),
                failure=failure,
            )
        )

    async def _decode(self, payloads: Sequence[Payload]) -> list[Any]:
        return await self._client.data_converter.decode(payloads) if payloads else []

    async def _summary(self, payload: Payload) -> str:
        if not payload.data:
            return ""
        [text] = await self._decode([payload])
        return text if isinstance(text, str) else ""

    async def _failure(self, proto: FailureProto) -> Failure:
        error = await self._client.data_converter.decode_failure(proto)
        cause: BaseException = error
        # an activity's failure may wrap the application's: keep the innermost message
        while isinstance(cause, FailureError) and cause.__cause__ is not None:
            if isinstance(cause, ApplicationError):
                break
            cause = cause.__cause__
        if isinstance(cause, ApplicationError):
            details = [d for d in cause.details if _is_json(d)]
            return Failure(message=cause.message, type=cause.type, details=details)
        message = cause.message if isinstance(cause, FailureError) else str(cause)
        return Failure(message=message, type=type(cause).__name__)


def _one(values: list[Any]) -> Any:
    """An activity's single argument or result (several: the list)."""
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _step_id(request: Any) -> str | None:
    step = request.get("step") if isinstance(request, dict) else None
    value = step.get("id") if isinstance(step, dict) else None
    return value if isinstance(value, str) else None


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)

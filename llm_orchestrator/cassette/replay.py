"""Replay cassettes: run the workflow again on a worker whose outside calls are answered
from the cassette, and compare what it sent and how it ended with the recording.

The worker is the project's own (``llm_orchestrator.worker.build_worker``) on a client
that carries :class:`CassetteInterceptor`: every activity but the pure ones
(:data:`~llm_orchestrator.cassette.record.NOT_RECORDED`) is answered by the
interceptor, so no model, store or webhook is reached; a custom action's name is served
by a dynamic activity that the interceptor answers the same way. A request that differs
from the recorded one fails its step (non-retryable) and is reported as a unified diff
of the two requests' JSON.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from temporalio import activity
from temporalio import client as temporal_client
from temporalio import worker as temporal_worker
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, FailureError

from activities import ActivitySettings, WorkerActivities
from activities.catalog import Catalog
from interpreter.contract import (
    ACTIVITY_ACTION,
    ACTIVITY_TRANSFORM,
    QUERY_PROGRESS,
    WORKFLOW_TYPE,
    Progress,
    RunInput,
    RunResult,
)
from interpreter.errors import OrchestratorError
from interpreter.inputs import resolve_inputs
from interpreter.library import load_with_library
from llm_orchestrator.cassette.format import (
    Call,
    Cassette,
    CassetteError,
    load,
    restore_ids,
    stable_ids,
)
from llm_orchestrator.cassette.record import NOT_RECORDED
from llm_orchestrator.worker import build_worker

__all__ = [
    "ERROR_CASSETTE_MISMATCH",
    "CassettePlayer",
    "CassetteReport",
    "json_diff",
    "request_for",
]

ERROR_CASSETTE_MISMATCH = "CassetteMismatch"
"""Failure type of a step whose request the cassette has no answer for."""


@dataclass
class CassetteReport:
    """How one cassette's replay went: passed, or the differences, each readable."""

    path: Path
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """``PASS path``, or ``FAIL path`` and each problem indented beneath it."""
        if self.passed:
            return f"PASS {self.path}"
        body = "\n".join("  " + line for p in self.problems for line in p.splitlines())
        return f"FAIL {self.path}\n{body}"


def json_diff(recorded: Any, now: Any) -> str:
    """A unified diff of the pretty JSON of two values (``recorded`` → ``now``)."""
    before = json.dumps(recorded, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    after = json.dumps(now, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "recorded", "now", lineterm=""))


class _Session:
    """One replay: the cassette's calls, which ones were answered, what differed."""

    def __init__(self, cassette: Cassette, root_id: str) -> None:
        self.root_id = root_id
        self.calls = cassette.calls
        self.used: set[int] = set()
        self.answered: dict[tuple[str, str], int] = {}
        """(run id, activity id) → the call that answered it (a retry gets the same)."""
        self.problems: list[str] = []

    def answer(self, info: activity.Info, request: Any) -> Any:
        workflow_id = info.workflow_id or ""
        path = workflow_id[len(self.root_id) + 1 :] if workflow_id != self.root_id else ""
        run_id = info.workflow_run_id or ""
        now = stable_ids(request, self.root_id, run_id)
        step = _step_id(now)
        key = (path, step, info.activity_type)
        index = self.answered.get((run_id, info.activity_id))
        if index is None:
            same_key = [i for i, c in enumerate(self.calls) if c.key() == key]
            free = [i for i in same_key if i not in self.used]
            index = next((i for i in free if _same(self.calls[i].request, now)), None)
            if index is None:
                self._mismatch(key, now, same_key, free)
            self.used.add(index)
            self.answered[(run_id, info.activity_id)] = index
        call = self.calls[index]
        if call.failure is not None:
            failure = call.failure
            raise ApplicationError(
                failure.message, *failure.details, type=failure.type, non_retryable=True
            )
        return restore_ids(call.result, self.root_id, run_id)

    def _mismatch(
        self, key: tuple[str, str | None, str], now: Any, same_key: list[int], free: list[int]
    ) -> NoReturn:
        """Say why no recorded call answers this one, and fail the step (non-retryable)."""
        path, step, activity_type = key
        name = Call(path=path, step=step, activity=activity_type).name()
        if free:
            recorded = self.calls[free[0]]
            before, after = _comparable(recorded.request, now)
            problem = (
                f"step {recorded.name()} ({activity_type}) would now send a different request "
                f"than the recorded one:\n{json_diff(before, after)}"
            )
            message = f"step {name}: the request differs from the cassette's"
        elif same_key:
            problem = (
                f"step {name} ({activity_type}) made one call more than the recording has "
                f"({len(same_key)})"
            )
            message = problem
        else:
            problem = (
                f"step {name} ({activity_type}) has no recorded answer: the recorded run did "
                "not make this call (a new or renamed step?); re-record with `--update`"
            )
            message = problem
        self.problems.append(problem)
        raise ApplicationError(message, type=ERROR_CASSETTE_MISMATCH, non_retryable=True)

    def unused(self) -> list[Call]:
        """Recorded calls the replay did not make, but for those of steps the workflow now
        computes itself: their outputs and statuses are still compared."""
        return [
            c for i, c in enumerate(self.calls) if i not in self.used and not _now_in_workflow(c)
        ]


def _now_in_workflow(call: Call) -> bool:
    """A call that older versions made for a step the workflow now computes without an
    activity: a `transform` or a `log` action (docs/runtime.md)."""
    if call.activity == ACTIVITY_TRANSFORM:
        return True
    step = call.request.get("step") if isinstance(call.request, dict) else None
    return (
        call.activity == ACTIVITY_ACTION and isinstance(step, dict) and step.get("action") == "log"
    )


class CassetteInterceptor(temporal_client.Interceptor, temporal_worker.Interceptor):
    """Answers a replayed run's activities from its cassette (see the module docstring).

    On the client, so that the worker built on that client picks it up."""

    def __init__(self) -> None:
        self.sessions: dict[str, _Session] = {}

    def intercept_activity(
        self, next: temporal_worker.ActivityInboundInterceptor
    ) -> temporal_worker.ActivityInboundInterceptor:
        return _Answer(next, self)

    def session_of(self, workflow_id: str) -> _Session | None:
        root = workflow_id.split("/", 1)[0]
        return self.sessions.get(root)


class _Answer(temporal_worker.ActivityInboundInterceptor):
    def __init__(
        self, next: temporal_worker.ActivityInboundInterceptor, owner: CassetteInterceptor
    ) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type in NOT_RECORDED:
            return await self.next.execute_activity(input)
        session = self._owner.session_of(info.workflow_id or "")
        if session is None:  # never let a call through to the outside
            raise ApplicationError(
                f"no cassette is being replayed for run {info.workflow_id}",
                type=ERROR_CASSETTE_MISMATCH,
                non_retryable=True,
            )
        return session.answer(info, _plain(input.args))


@activity.defn(dynamic=True)
async def _custom_action(args: Sequence[RawValue]) -> Any:
    """A custom action's name: registered so that the interceptor can answer it."""
    raise ApplicationError("answered from the cassette only", non_retryable=True)


def _plain(args: Sequence[Any]) -> Any:
    """An activity's argument(s) as the JSON the workflow sent."""
    converter = activity.payload_converter()
    values: list[Any] = []
    for arg in args:
        if isinstance(arg, RawValue):
            values.append(converter.from_payload(arg.payload))
        elif isinstance(arg, Sequence) and arg and all(isinstance(a, RawValue) for a in arg):
            values.extend(converter.from_payload(a.payload) for a in arg)
        else:
            values.append(converter.from_payload(converter.to_payload(arg)))
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _same(recorded: Any, now: Any) -> bool:
    before, after = _comparable(recorded, now)
    return bool(before == after)


_EMPTY: tuple[Any, ...] = (None, False, 0, "", [], {})


def _comparable(recorded: Any, now: Any) -> tuple[Any, Any]:
    """Both requests without the fields only one of them has at an empty value: payloads
    evolve by adding fields with defaults, and a field added since the recording (or
    dropped since) at its default is not a different request."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for key in recorded.keys() | now.keys():
            if key not in now:
                if recorded[key] not in _EMPTY:
                    before[key] = recorded[key]
            elif key not in recorded:
                if now[key] not in _EMPTY:
                    after[key] = now[key]
            else:
                before[key], after[key] = _comparable(recorded[key], now[key])
        return before, after
    if isinstance(recorded, list) and isinstance(now, list) and len(recorded) == len(now):
        pairs = [_comparable(a, b) for a, b in zip(recorded, now, strict=True)]
        return [a for a, _ in pairs], [b for _, b in pairs]
    return recorded, now


def _step_id(request: Any) -> str | None:
    step = request.get("step") if isinstance(request, dict) else None
    value = step.get("id") if isinstance(step, dict) else None
    return value if isinstance(value, str) else None


class CassettePlayer:
    """A worker that replays cassettes, on a private task queue of one client."""

    def __init__(
        self, client: Client, interceptor: CassetteInterceptor, task_queue: str,
        settings: ActivitySettings,
    ) -> None:  # fmt: skip
        self._client = client
        self._interceptor = interceptor
        self._task_queue = task_queue
        self._settings = settings

    @classmethod
    @asynccontextmanager
    async def running(
        cls, client: Client, *, settings: ActivitySettings | None = None
    ) -> AsyncIterator[CassettePlayer]:
        """Serve replays through ``client``'s server until the block ends.

        ``settings``: the worker's (its catalog answers a cassette whose source is a
        catalog name); by default from the environment."""
        interceptor = CassetteInterceptor()
        config = client.config()
        config["interceptors"] = [*config["interceptors"], interceptor]
        replaying = Client(**config)
        settings = settings or ActivitySettings.from_env()
        task_queue = f"cassette-{uuid.uuid4().hex[:12]}"
        activities = WorkerActivities(settings)
        worker = build_worker(
            replaying, activities, task_queue=task_queue, custom_activities=[_custom_action]
        )
        try:
            async with worker:
                yield cls(replaying, interceptor, task_queue, settings)
        finally:
            await activities.aclose()

    async def check(self, path: Path, *, timeout: float = 300.0) -> CassetteReport:
        """Replay the cassette at ``path``; every difference is in the report."""
        report = CassetteReport(path)
        try:
            cassette = load(path)
            request = request_for(cassette, path, self._settings)
        except OrchestratorError as exc:  # a cassette or workflow file that cannot be used
            report.problems.append(str(exc))
            return report
        root = f"cassette-{_slug(path.stem)}-{uuid.uuid4().hex[:8]}"
        session = _Session(cassette, root)
        self._interceptor.sessions[root] = session
        try:
            ended = await self._run(root, request, timeout)
        finally:
            del self._interceptor.sessions[root]
        report.problems += session.problems
        if session.problems:
            report.problems.append("(the run stopped at the request that differs)")
            return report
        report.problems += _compare(cassette, ended)
        if ended.result is not None:
            report.problems += [
                f"recorded call of step {c.name()} ({c.activity}) was not made: the workflow "
                "no longer has that step, or no longer reaches it"
                for c in session.unused()
            ]
        return report

    async def _run(self, root: str, request: RunInput, timeout: float) -> _Ended:
        handle = await self._client.start_workflow(
            WORKFLOW_TYPE, request, id=root, task_queue=self._task_queue, result_type=RunResult
        )
        run_id = handle.result_run_id or ""
        try:
            result = await asyncio.wait_for(handle.result(), timeout)
        except WorkflowFailureError as exc:
            return _Ended(None, stable_ids(_innermost(exc), root, run_id))
        except TimeoutError:
            waiting = ""
            try:
                progress: Progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
                waiting = ", ".join(
                    f"{w.kind} `{w.name}` of step `{w.step}`" for w in progress.waiting
                )
            except Exception:  # the reason is the timeout; what it waited for is a bonus
                waiting = ""
            await handle.terminate("cassette replay timed out")
            return _Ended(
                None,
                f"the replay did not finish in {timeout:g} s"
                + (f"; it waits for {waiting} (not replayed from cassettes)" if waiting else ""),
            )
        return _Ended(result, None, stable_ids(result.outputs, root, run_id))


def request_for(cassette: Cassette, path: Path, settings: ActivitySettings) -> RunInput:
    """The start input of a replay of the cassette at ``path``: the workflow as its source
    is now (else as pinned), with the recorded inputs, offline flag and mocks."""
    source = cassette.source
    found: Path | None = None
    if source.file is not None:
        found = (path.parent / source.file).resolve()
        if not found.is_file():
            raise CassetteError(f"{path}: its workflow file {found} does not exist")
    elif source.catalog is not None:
        found = Catalog(settings).find(source.catalog)
        if found is None:
            raise CassetteError(
                f"{path}: the catalog {settings.catalog_dir} has no workflow "
                f"`{source.catalog}` (pass --catalog DIR)"
            )
    if found is None:
        return RunInput(
            definition=cassette.definition,
            library=cassette.library,
            inputs=cassette.inputs,
            offline=cassette.offline,
            mocks=cassette.mocks,
        )
    definition, library = load_with_library(found)
    resolve_inputs(definition, dict(cassette.inputs))  # do the recorded inputs still fit?
    return RunInput(
        definition=definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        library=library,
        inputs=cassette.inputs,
        offline=cassette.offline,
        mocks=cassette.mocks,
    )


@dataclass
class _Ended:
    result: RunResult | None
    error: str | None
    outputs: Any = None


def _compare(cassette: Cassette, ended: _Ended) -> list[str]:
    """How the replay's end differs from the recorded one."""
    expect = cassette.expect
    if ended.result is None:
        if expect.status == "failed":
            if ended.error == expect.error:
                return []
            return [f"the run failed differently:\n{json_diff(expect.error, ended.error)}"]
        return [f"the run failed (the recorded run completed): {ended.error}"]
    if expect.status == "failed":
        return [f"the run completed; the recorded run failed: {expect.error}"]
    problems = []
    if ended.outputs != expect.outputs:
        problems.append(f"outputs differ:\n{json_diff(expect.outputs, ended.outputs)}")
    statuses = dict(ended.result.statuses())
    if statuses != expect.steps:
        problems.append(f"step statuses differ:\n{json_diff(expect.steps, statuses)}")
    return problems


def _innermost(exc: WorkflowFailureError) -> str:
    """The run's own failure message, as `record` keeps it."""
    cause = exc.cause
    return cause.message if isinstance(cause, FailureError) else str(cause)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-") or "run"

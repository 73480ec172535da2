"""The SDK's client against the real dev server: run a builder, a file and a catalog name;
approve, cancel, progress; bad input fails before anything starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from interpreter.errors import InputError, OrchestratorError, WorkflowDefinitionError
from llm_orchestrator.sdk import Orchestrator, Steps, Workflow
from tests.conftest import WorkerFactory

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


def _review() -> Workflow:
    return (
        Workflow("review")
        .input("text", type="string")
        .llm("draft", prompt="Draft: {{ inputs.text }}", mock_response="a draft", output=["d"])
        .approval("check", depends_on=["draft"], message="ok to send {{ steps.draft.d }}?")
        .transform("sent", depends_on=["check"], template="sent {{ steps.draft.d }}")
        .output("sent", "{{ steps.sent.output }}")
    )


async def test_run_a_builder_a_file_and_a_catalog_name(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    orch = Orchestrator(client, task_queue=task_queue)
    doubled = (
        Workflow("double")
        .input("items", type="array")
        .map(
            "each",
            items="{{ inputs.items }}",
            as_="n",
            step=Steps().transform("x", template="{{ n * 2 }}")[0],
        )
        .output("all", "{{ steps.each.output }}")
    )
    async with worker_for():
        built = await orch.run(doubled, {"items": [1, 2, 3]}, offline=True)
        from_file = await orch.run(
            ROOT / "examples/sentiment-analysis.yaml", {"text": "I love it"}, offline=True
        )
        by_name = await orch.run("sentiment-analysis", {"text": "I love it"}, offline=True)
    assert built.outputs["all"] == [2, 4, 6]
    assert from_file.workflow == by_name.workflow == "sentiment-analysis"
    assert from_file.outputs == by_name.outputs


async def test_approve_progress_and_result(
    client: Client, task_queue: str, worker_for: WorkerFactory
) -> None:
    orch = Orchestrator(client, task_queue=task_queue)
    async with worker_for():
        run = await orch.start(_review(), {"text": "hello"}, offline=True)
        for _ in range(100):
            progress = await run.progress()
            if progress.waiting:
                break
            await asyncio.sleep(0.1)
        assert [w.step for w in progress.waiting] == ["check"]
        with pytest.raises(OrchestratorError, match="nope"):
            await orch.approve(run.id, "nope")
        answer = await orch.approve(run.id, "check", by="ana", comment="fine")
        assert answer == "step `check` approved"
        result = await orch.result(run.id)
        records = (await run.progress()).steps  # the result has statuses; records: the query
    assert result.outputs == {"sent": "sent a draft"}
    assert result.status["check"] == "completed"
    assert records["check"].output["by"] == "ana"


async def test_cancel(client: Client, task_queue: str, worker_for: WorkerFactory) -> None:
    orch = Orchestrator(client, task_queue=task_queue)
    async with worker_for():
        run = await orch.start(_review(), {"text": "hello"}, offline=True)
        await orch.cancel(run.id)
        with pytest.raises(WorkflowFailureError):
            await run.result()
        described = await run.handle.describe()
    assert described.status == WorkflowExecutionStatus.CANCELED


async def test_bad_input_fails_before_anything_starts(client: Client, task_queue: str) -> None:
    orch = Orchestrator(client, task_queue=task_queue)
    with pytest.raises(InputError, match="text"):
        await orch.start(_review(), {}, offline=True)
    with pytest.raises(WorkflowDefinitionError, match=r"Workflow\('bad'\)\.llm\('x'\)"):
        await orch.start(Workflow("bad").llm("x", promt="hi"))

"""The SDK's client against the real dev server: run a builder, a file and a catalog name;
approve, cancel, progress; bad input or a mock of an unknown step fails before anything
starts; the SDK and the CLI build the same start input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from interpreter.errors import InputError, OrchestratorError, WorkflowDefinitionError
from llm_orchestrator.request import run_input
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


async def test_a_mock_of_an_unknown_step_fails_before_anything_starts(
    client: Client, task_queue: str
) -> None:
    """As `run --mock` does: refused here, not as a run the worker fails at its start."""
    orch = Orchestrator(client, task_queue=task_queue)
    wrong = r"^mock `draf`: the workflow has no such step; did you mean `draft`\?$"
    with pytest.raises(OrchestratorError, match=wrong):
        await orch.start(_review(), {"text": "hello"}, offline=True, mocks={"draf": "x"})
    moderation = ROOT / "examples/content-moderation.yaml"
    with pytest.raises(OrchestratorError, match="did you mean `classify`") as sdk:
        orch.request(moderation, {"content": "x"}, mocks={"clasify": "x"})
    with pytest.raises(OrchestratorError) as cli:
        run_input(str(moderation), ("content=x",), offline=False, mocks=("clasify=x",))
    assert str(sdk.value) == str(cli.value)
    # a catalog name: the worker checks (the client cannot see the definition)
    request, definition = orch.request("content-moderation", mocks={"clasify": "x"})
    assert definition is None and request.mocks == {"clasify": "x"}


async def test_the_sdk_and_the_cli_build_the_same_start_input(
    client: Client, tmp_path: Path
) -> None:
    (tmp_path / "child.yaml").write_text(
        "name: child\nsteps:\n  - {id: hello, type: transform, template: hi}\n",
        encoding="utf-8",
    )
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "name: parent\ninputs:\n  n: {type: integer}\nsteps:\n"
        "  - {id: kid, type: workflow, workflow: child.yaml}\n"
        "  - {id: after, type: transform, template: done, depends_on: [kid]}\n",
        encoding="utf-8",
    )
    orch = Orchestrator(client)
    sdk = orch.request(parent, {"n": 5}, offline=True, mocks={"kid": {"said": "hi"}})
    cli = run_input(str(parent), ("n=5",), offline=True, mocks=('kid={"said": "hi"}',))
    assert sdk == cli
    request, definition = sdk
    assert definition is not None and definition.name == "parent"
    assert request.definition is not None and request.definition["name"] == "parent"
    assert [d["name"] for d in request.library.values()] == ["child"]  # pinned with the run
    assert (request.inputs, request.mocks, request.offline) == (
        {"n": 5},
        {"kid": {"said": "hi"}},
        True,
    )
    by_name = orch.request("sentiment-analysis", {"text": "5"}, mocks={"x": 1})
    assert by_name == run_input("sentiment-analysis", ('text="5"',), offline=False,
                                mocks=("x=1",))  # fmt: skip
    assert by_name[0].workflow == "sentiment-analysis" and by_name[0].definition is None
    with pytest.raises(InputError, match="n"):
        orch.request(parent, {"n": "five"})
    with pytest.raises(InputError, match="n"):
        run_input(str(parent), ("n=five",), offline=False)

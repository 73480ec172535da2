"""`rerun`: a new run from a step of an old one, against LLMock and the real dev server.

A five-step `llm` pipeline whose third step fails at LLMock (an independent
OpenAI-compatible server) is rerun after the "server is fixed": LLMock's request
journal shows which steps called the model again. Also: a rerun from an edited step,
a refused edit upstream (and `--force`), `--set`, bad input, a running run, `action`
steps, cancelled / timed-out / catalog runs, and the link `status` shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from llmock.pytest_plugin import LLMock
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from activities import ActivitySettings
from interpreter.contract import WORKFLOW_TYPE, RunResult
from interpreter.errors import OrchestratorError
from interpreter.loader import load_definition
from llm_orchestrator.rerun import MEMO_RERUN_OF, RerunRefused, step_hashes
from llm_orchestrator.sdk.client import Orchestrator
from tests.helpers.providers import config_for
from tests.helpers.replay import assert_replays
from tests.helpers.runs import start_run

pytestmark = pytest.mark.usefixtures("keys")
aio = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("outline", "draft", "review", "revise", "polish")
ONCE = {"max_attempts": 1}


def pipeline(**prompts: str) -> dict[str, Any]:
    """Five chained `llm` steps; `review` runs on gpt-4o, which LLMock is told to fail."""
    steps: list[dict[str, Any]] = []
    for i, step_id in enumerate(STEPS):
        prompt = prompts.get(step_id, f"{step_id}: write about {{{{ inputs.topic }}}}")
        step: dict[str, Any] = {
            "id": step_id,
            "type": "llm",
            "provider": "openai",
            "model": "gpt-4o" if step_id == "review" else "gpt-4o-mini",
            "retry": ONCE,
        }
        if i:
            step["depends_on"] = [STEPS[i - 1]]
            prompt += f" after {{{{ steps.{STEPS[i - 1]}.output }}}}"
        step["prompt"] = prompt
        steps.append(step)
    return {
        "name": "five-steps",
        "inputs": {"topic": {"type": "string", "default": "otters"}},
        "steps": steps,
        "outputs": {"text": "{{ steps.polish.output }}"},
    }


def asked(llmock: LLMock) -> list[str]:
    """Which steps called the model, in order (each prompt starts with its step id)."""
    out = []
    for record in llmock.requests:
        content = record.body["messages"][-1]["content"]
        out.append(content.split(":", 1)[0])
    return out


async def failed_at_review(client: Client, task_queue: str, llmock: LLMock) -> str:
    """Run the pipeline with LLMock failing `review`; the failed run's workflow id."""
    llmock.fail(500, times=None, model="gpt-4o", message="review model down")
    handle = await start_run(client, task_queue, {"definition": pipeline()})
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert asked(llmock) == ["outline", "draft", "review"]
    llmock.reset()  # the server is fixed
    return handle.id


async def completed(client: Client, task_queue: str, definition: dict[str, Any]) -> str:
    handle = await start_run(client, task_queue, {"definition": definition})
    await handle.result()
    return handle.id


def write(tmp_path: Path, definition: dict[str, Any]) -> Path:
    path = tmp_path / f"edited-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    return path


def _cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "LLM_ORCH"))}
    env.update(
        XDG_STATE_HOME=str(tmp_path / "state"),
        TEMPORAL_CONFIG_FILE=str(tmp_path / "none.toml"),
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-m", "llm_orchestrator.cli", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL,  # not a TTY: nothing may be asked
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


async def cli(tmp_path: Path, client: Client, *argv: str) -> subprocess.CompletedProcess[str]:
    address = client.service_client.config.target_host
    return await asyncio.to_thread(_cli, tmp_path, *argv, "--address", address)


# --- the scenario -----------------------------------------------------------------


@aio
async def test_rerun_of_a_failed_run_calls_the_model_only_for_the_failed_step_and_after(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, tmp_path: Path
) -> None:
    async with worker_for(config=config_for(llmock)):
        old_id = await failed_at_review(client, task_queue, llmock)
        orch = Orchestrator(client, task_queue=task_queue)
        run = await orch.rerun(old_id)
        result = await run.result()
        assert asked(llmock) == ["review", "revise", "polish"]
        steps = (await run.progress()).steps  # the full records (the result has statuses)

        assert result.status == {s: r.status for s, r in steps.items()}
        statuses = {s: r.status for s, r in steps.items()}
        assert statuses == dict(zip(STEPS, ["reused"] * 2 + ["completed"] * 3, strict=True))
        outline = steps["outline"]
        assert outline.usage is None and outline.attempts == 0  # no activity, not charged
        assert outline.reason is not None and f"reused from run {old_id}" in outline.reason
        assert "tokens" in outline.reason  # the old usage stays visible
        ran = [steps[s].usage for s in ("review", "revise", "polish")]
        assert result.usage.input_tokens == sum(u.input_tokens for u in ran if u)
        # the reused output fed the rerun step's prompt
        old = await client.get_workflow_handle(old_id).query("progress")
        draft_output = old["steps"]["draft"]["output"]
        assert draft_output and draft_output in llmock.requests[0].body["messages"][-1]["content"]

        description = await run.handle.describe()
        memo = await description.memo()
        assert memo[MEMO_RERUN_OF]["workflow_id"] == old_id
        status = await cli(tmp_path, client, "status", run.id)
        assert status.returncode == 0, status.stderr
        assert f"rerun of    {old_id}" in status.stdout
        assert "↺ outline" in status.stdout and "reused" in status.stdout
        # the Web UI's details of the run say so too
        metadata = await run.handle.query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        details = metadata.current_details
        assert f"**Rerun of** `{old_id}`" in details
        assert "reused steps: `outline`, `draft`" in details
        # the reuse path is deterministic: the rerun's history replays
        await assert_replays(await run.handle.fetch_history(), client.data_converter)


@aio
async def test_rerun_from_an_edited_step_reruns_it_and_what_follows_only(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, tmp_path: Path
) -> None:
    async with worker_for(config=config_for(llmock)):
        old_id = await completed(client, task_queue, pipeline())
        llmock.reset()
        orch = Orchestrator(client, task_queue=task_queue)
        edited = write(tmp_path, pipeline(draft="draft: a NEW draft about {{ inputs.topic }}"))
        result = await (await orch.rerun(old_id, start_from="draft", file=edited)).result()
        assert asked(llmock) == ["draft", "review", "revise", "polish"]
        assert "a NEW draft" in llmock.requests[0].body["messages"][-1]["content"]
        assert result.status["outline"] == "reused"

        # an edit to step 1, which the rerun would reuse: refused, naming it; --force reuses it
        llmock.reset()
        edited = write(tmp_path, pipeline(outline="outline: something else"))
        with pytest.raises(RerunRefused) as refused:
            await orch.rerun(old_id, start_from="review", file=edited)
        assert refused.value.changed == ("outline", "draft")  # the edit propagates downstream
        assert "`outline`" in str(refused.value) and "--force" in str(refused.value)
        assert llmock.requests == []  # nothing started
        run = await orch.rerun(old_id, start_from="review", file=edited, force=True)
        result = await run.result()
        assert asked(llmock) == ["review", "revise", "polish"]
        assert [result.status[s] for s in STEPS[:2]] == ["reused", "reused"]

        # a changed input changes every step that mentions it
        plan = await orch.plan_rerun(old_id, start_from="polish", inputs=["topic=seals"])
        assert plan.changed == STEPS[:4]
        same = await orch.plan_rerun(old_id, start_from="polish", inputs=["topic=otters"])
        assert same.changed == ()  # the default, given explicitly: no change

        # a completed run needs --from
        with pytest.raises(OrchestratorError, match="completed: give --from STEP"):
            await orch.rerun(old_id)


@aio
async def test_set_replaces_a_steps_output_and_reruns_what_depends_on_it(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    async with worker_for(config=config_for(llmock)):
        old_id = await completed(client, task_queue, pipeline())
        llmock.reset()
        orch = Orchestrator(client, task_queue=task_queue)
        run = await orch.rerun(old_id, sets=['draft="a draft by hand"'])
        result = await run.result()
        assert asked(llmock) == ["review", "revise", "polish"]
        assert "a draft by hand" in llmock.requests[0].body["messages"][-1]["content"]
        assert (await run.progress()).steps["draft"].output == "a draft by hand"
        assert result.status["outline"] == "reused"


# --- bad input ------------------------------------------------------------------------------


@aio
async def test_unknown_id_and_unknown_step_are_plain_errors(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, tmp_path: Path
) -> None:
    unknown = await cli(tmp_path, client, "rerun", "no-such-run-42")
    assert unknown.returncode == 1
    assert "no run with id no-such-run-42" in unknown.stderr
    async with worker_for(config=config_for(llmock)):
        old_id = await completed(client, task_queue, pipeline())
        typo = await cli(tmp_path, client, "rerun", old_id, "--from", "reviw")
        assert typo.returncode == 1, typo.stderr
        assert "no step `reviw`; did you mean `review`?" in typo.stderr
        bad_set = await cli(tmp_path, client, "rerun", old_id, "--set", "drafts=1")
        assert "did you mean `draft`?" in bad_set.stderr


@aio
async def test_a_running_run_is_refused_unless_cancel_old(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    definition = pipeline()
    definition["steps"] = [
        definition["steps"][0],
        {"id": "go", "type": "wait", "signal": "go", "depends_on": ["outline"]},
        {**definition["steps"][4], "depends_on": ["go"], "prompt": "polish: {{ steps.go.output }}"},
    ]
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(client, task_queue, {"definition": definition})
        orch = Orchestrator(client, task_queue=task_queue)
        while (await orch.progress(handle.id)).steps["go"].status != "running":
            await asyncio.sleep(0.1)
        with pytest.raises(OrchestratorError, match=r"still running: wait .* --cancel-old"):
            await orch.rerun(handle.id)
        llmock.reset()
        run = await orch.rerun(handle.id, cancel_old=True)
        old = await handle.describe()
        assert old.status == WorkflowExecutionStatus.CANCELED  # a cancelled run reruns
        while (await run.progress()).steps["go"].status != "running":
            await asyncio.sleep(0.1)
        await run.handle.signal("go", "now")
        result = await run.result()
        assert result.status["outline"] == "reused"
        assert asked(llmock) == ["polish"]


@aio
async def test_action_steps_are_listed_and_need_yes_without_a_tty(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, tmp_path: Path
) -> None:
    definition = pipeline()
    definition["steps"] = [
        *definition["steps"][:2],
        {"id": "announce", "type": "action", "action": "log", "depends_on": ["draft"],
         "params": {"message": "{{ steps.draft.output }}"}},
    ]  # fmt: skip
    definition["outputs"] = {}
    async with worker_for(config=config_for(llmock)):
        old_id = await completed(client, task_queue, definition)
        llmock.reset()
        asked_first = await cli(tmp_path, client, "rerun", old_id, "--from", "draft")
        assert asked_first.returncode == 1
        assert "`action` steps that run again (side effects): announce" in asked_first.stderr
        assert "pass --yes" in asked_first.stderr
        assert llmock.requests == []
        went = await cli(tmp_path, client, "rerun", old_id, "--from", "draft", "--yes", "--wait")
        assert went.returncode == 0, went.stderr
        assert asked(llmock) == ["draft"]
        assert "↺ outline" in went.stderr

        started = await cli(tmp_path, client, "rerun", old_id, "--from", "draft", "--yes", "--json")
        assert started.returncode == 0, started.stderr
        ids = json.loads(started.stdout)
        assert ids["rerun_of"]["workflow_id"] == old_id
        assert (ids["reused"], ids["rerun"]) == (["outline"], ["draft", "announce"])
        await client.get_workflow_handle(ids["workflow_id"]).result()


@aio
async def test_a_timed_out_run_and_a_catalog_run_whose_catalog_changed_can_be_rerun(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    definition = pipeline()
    definition["steps"] = [
        definition["steps"][0],
        {"id": "go", "type": "wait", "signal": "go", "depends_on": ["outline"]},
    ]
    definition["outputs"] = {"go": "{{ steps.go.output }}"}
    (catalog / "waits.yaml").write_text(yaml.safe_dump(definition), encoding="utf-8")
    settings = ActivitySettings(catalog_dir=catalog, vectors_dir=tmp_path / "vectors")
    async with worker_for(config=config_for(llmock), settings=settings):
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            {"workflow": "waits"},
            id=f"waits-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=RunResult,
            execution_timeout=timedelta(seconds=3),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert (await handle.describe()).status == WorkflowExecutionStatus.TIMED_OUT
        (catalog / "waits.yaml").unlink()  # the catalog has changed since
        llmock.reset()
        orch = Orchestrator(client, task_queue=task_queue)
        plan = await orch.plan_rerun(handle.id)
        assert plan.old.state == "timed_out" and plan.start_from == "go"
        run = await orch.start_rerun(plan)
        await run.handle.signal("go", "later")
        result = await run.result()
        assert result.outputs == {"go": "later"}
        assert result.status["outline"] == "reused"
        assert llmock.requests == []


# --- the content hash (no server) -------------------------------------------------------------


def test_a_step_hash_covers_its_definition_its_inputs_and_whats_upstream() -> None:
    base = step_hashes(load_definition(pipeline()), {"topic": "otters"})
    edited = step_hashes(load_definition(pipeline(draft="draft: other")), {"topic": "otters"})
    assert [base[s] == edited[s] for s in STEPS] == [True, False, False, False, False]
    other_input = step_hashes(load_definition(pipeline()), {"topic": "seals"})
    assert all(base[s] != other_input[s] for s in STEPS)  # every prompt mentions the topic
    unused = step_hashes(load_definition(pipeline()), {"topic": "otters", "x": 1})
    assert unused == base
    assert json.dumps(base)  # plain strings

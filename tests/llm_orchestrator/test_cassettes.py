"""Recorded runs as tests: `record` a run into a cassette, `test` replays it offline.

Runs are real (the session's dev server); the model answers of the main check come
from LLMock, and the replays then reach no model server at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from llmock.pytest_plugin import LLMock
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings
from interpreter.contract import RunInput
from interpreter.library import load_with_library
from llm_orchestrator.cassette import (
    CassetteError,
    CassettePlayer,
    Source,
    load,
    record_run,
    save,
)
from tests.conftest import WorkerFactory
from tests.helpers.providers import config_for
from tests.helpers.runs import outcome, start_run

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "llm_orchestrator.cli"]

WORKFLOW = {
    "name": "ticket-notes",
    "inputs": {"ticket": {"type": "string"}},
    "steps": [
        {
            "id": "classify",
            "type": "llm",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "prompt": "Classify this ticket as bug or question: {{ inputs.ticket }}",
            "output": ["label"],
        },
        {
            "id": "each_word",
            "type": "map",
            "depends_on": ["classify"],
            "items": "{{ inputs.ticket.split(' ')[:2] }}",
            "step": {
                "type": "llm",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "prompt": "Define: {{ item }}",
            },
        },
        {
            "id": "shout",
            "type": "transform",
            "depends_on": ["classify"],
            "template": "{{ steps.classify.label | upper }}",
        },
    ],
    "outputs": {
        "label": "{{ steps.shout.output }}",
        "words": "{{ steps.each_word.output }}",
    },
}
INPUTS = {"ticket": "export broken since Monday"}


def _write(path: Path, workflow: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-temporal-config.toml")
    env["PYTHONPATH"] = str(ROOT)
    return env


def _cli(tmp_path: Path, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--address", address],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )


async def _run_file(client: Client, task_queue: str, file: Path, *, offline: bool = False) -> str:
    definition, library = load_with_library(file)
    request = RunInput(
        definition=definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        library=library,
        inputs=INPUTS,
        offline=offline,
    )
    handle = await start_run(client, task_queue, request)
    _, error = await outcome(handle)
    assert error is None, error
    return handle.id


@pytest.mark.timeout(400)  # three CLI processes beside the session's server
async def test_record_then_test_passes_then_fails_with_a_diff_after_a_prompt_edit(
    client: Client,
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    worker_for: WorkerFactory,
    llmock: LLMock,
    keys: None,
    tmp_path: Path,
) -> None:
    file = _write(tmp_path / "ticket-notes.yaml", WORKFLOW)
    llmock.reply("bug").reply("to send out").reply("not working")
    async with worker_for(config=config_for(llmock)):
        workflow_id = await _run_file(client, task_queue, file)
    asked = len(llmock.requests)
    assert asked == 3
    address = temporal_env.client.service_client.config.target_host

    recorded = _cli(tmp_path, address, "record", workflow_id, "-o", "runs/notes.json",
                    "--workflow", "ticket-notes.yaml")  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    cassette = load(tmp_path / "runs/notes.json")
    assert cassette.source.file == "../ticket-notes.yaml"
    assert [(c.path, c.step, c.label) for c in cassette.calls] == [
        ("", "classify", None),
        ("each_word/batch-0", "item_0", "each_word[0]"),
        ("each_word/batch-0", "item_1", "each_word[1]"),
    ]
    # a real provider's answer: LLMock's usage figures came back with it
    first = next(c for c in cassette.calls if c.step == "classify")
    assert first.result["output"] == "bug"
    assert first.result["usage"]["input_tokens"] > 0
    assert cassette.expect.outputs["label"] == "BUG"

    passed = _cli(tmp_path, address, "test", "runs")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS runs/notes.json" in passed.stdout
    assert len(llmock.requests) == asked  # answered from the cassette: no model server

    edited = dict(WORKFLOW)
    edited["steps"] = [dict(WORKFLOW["steps"][0]), *WORKFLOW["steps"][1:]]  # type: ignore[index]
    edited["steps"][0]["prompt"] = "Is this a bug or a question? {{ inputs.ticket }}"  # type: ignore[index]
    _write(file, edited)
    failed = _cli(tmp_path, address, "test", "runs")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    out = failed.stdout
    assert "FAIL runs/notes.json" in out
    assert "step `classify` (step_llm) would now send a different request" in out
    was = "Classify this ticket as bug or question: export broken since Monday"
    assert f'-    "prompt": "{was}",' in out
    assert '+    "prompt": "Is this a bug or a question? export broken since Monday",' in out
    assert "Traceback" not in failed.stdout + failed.stderr
    assert len(llmock.requests) == asked


TWO_STEPS = {
    "name": "two-steps",
    "inputs": {"ticket": {"type": "string"}},
    "steps": [
        {"id": "first", "type": "llm", "prompt": "One: {{ inputs.ticket }}", "mock_response": "a"},
        {"id": "second", "type": "llm", "prompt": "Two: {{ inputs.ticket }}", "mock_response": "b",
         "depends_on": ["first"]},
    ],
    "outputs": {"first": "{{ steps.first.output }}"},
}  # fmt: skip


async def _recorded(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> tuple[Path, Path]:
    """An offline run of TWO_STEPS recorded as ``runs/two.json``, its source the file."""
    file = _write(tmp_path / "two.yaml", TWO_STEPS)
    async with worker_for():
        workflow_id = await _run_file(client, task_queue, file, offline=True)
    cassette = await record_run(client, workflow_id, source=Source(file="../two.yaml"))
    path = tmp_path / "runs" / "two.json"
    save(cassette, path)
    return file, path


def _settings(tmp_path: Path) -> ActivitySettings:
    return ActivitySettings(catalog_dir=tmp_path, vectors_dir=tmp_path / "vectors")


async def test_a_step_the_workflow_no_longer_has_or_a_new_step_is_a_clear_difference(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    file, path = await _recorded(client, task_queue, worker_for, tmp_path)
    assert [c.step for c in load(path).calls] == ["first", "second"]
    async with CassettePlayer.running(client, settings=_settings(tmp_path)) as player:
        unchanged = await player.check(path)
        assert unchanged.passed, unchanged.text()

        _write(file, {**TWO_STEPS, "steps": TWO_STEPS["steps"][:1]})  # type: ignore[index]
        removed = await player.check(path)
        text = removed.text()
        assert not removed.passed
        assert "recorded call of step `second` (step_llm) was not made" in text, text
        assert "step statuses differ" in text
        assert '-  "second": "completed"' in text

        # after `second`: a run failing while a sibling's task is pending leaves an unawaited
        # coroutine of the interpreter behind (an unraisable warning at exit)
        third = {"id": "third", "type": "llm", "prompt": "Three", "mock_response": "c",
                 "depends_on": ["second"]}  # fmt: skip
        _write(file, {**TWO_STEPS, "steps": [*TWO_STEPS["steps"], third]})  # type: ignore[misc]
        added = await player.check(path)
        assert "step `third` (step_llm) has no recorded answer" in added.text(), added.text()
        assert "Traceback" not in added.text()

        file.write_text("name: two-steps\nsteps:\n  - id: first\n    type: llm\n    prompt: x\n"
                        "    depends_on: [frist]\n")  # fmt: skip
        invalid = (await player.check(path)).text()
        assert invalid.startswith(f"FAIL {path}\n  {file}:6:"), invalid


async def test_record_refuses_an_unknown_or_unfinished_run(client: Client, task_queue: str) -> None:
    with pytest.raises(CassetteError, match="no run with id nobody-1 on this server"):
        await record_run(client, "nobody-1")
    waiting = {"name": "waits", "steps": [{"id": "w", "type": "wait", "signal": "go"}]}
    handle = await start_run(client, task_queue, {"definition": waiting})  # no worker: running
    try:
        with pytest.raises(CassetteError, match="is still running; record it once it has ended"):
            await record_run(client, handle.id)
    finally:
        await handle.terminate("test over")


async def test_a_corrupt_or_unknown_version_cassette_is_a_clear_error(
    client: Client, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "llm-orchestrator-cassette", "version": 1,')
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format": "llm-orchestrator-cassette", "version": 9}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"events": []}))
    hollow = tmp_path / "hollow.json"
    hollow.write_text(json.dumps({"format": "llm-orchestrator-cassette", "version": 1}))
    async with CassettePlayer.running(client, settings=_settings(tmp_path)) as player:
        reports = {p.name: (await player.check(p)).text() for p in (broken, future, other, hollow)}
    assert f"FAIL {broken}\n  {broken}:1:" in reports["broken.json"]
    assert "not a cassette: invalid JSON" in reports["broken.json"]
    assert (
        "cassette format version 9; this llm-orchestrator reads version 1" in reports["future.json"]
    )
    assert "not an llm-orchestrator cassette" in reports["other.json"]
    assert "broken cassette: definition: Field required" in reports["hollow.json"]


@pytest.mark.timeout(400)  # three CLI processes
async def test_update_rerecords_an_offline_cassette_after_an_edit(
    client: Client,
    temporal_env: WorkflowEnvironment,
    task_queue: str,
    worker_for: WorkerFactory,
    tmp_path: Path,
) -> None:
    file, path = await _recorded(client, task_queue, worker_for, tmp_path)
    before = load(path)
    edited = [{**TWO_STEPS["steps"][0], "prompt": "Uno: {{ inputs.ticket }}"},  # type: ignore[index, dict-item]
              TWO_STEPS["steps"][1]]  # type: ignore[index]  # fmt: skip
    _write(file, {**TWO_STEPS, "steps": edited})
    address = temporal_env.client.service_client.config.target_host
    assert _cli(tmp_path, address, "test", "runs").returncode == 1

    updated = _cli(tmp_path, address, "test", "--update", "runs")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "UPDATED runs/two.json: 2 calls, run completed" in updated.stdout
    after = load(path)
    assert after.offline  # re-recorded offline, as it was recorded
    assert after.recorded_from["workflow_id"] != before.recorded_from["workflow_id"]
    assert after.source == before.source
    assert after.calls[0].request["step"]["prompt"] == f"Uno: {INPUTS['ticket']}"

    again = _cli(tmp_path, address, "test", "runs")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PASS runs/two.json" in again.stdout


PIPELINE = {
    "name": "pipeline",
    "steps": [
        {"id": "fetch", "type": "action", "action": "http",
         "params": {"url": "https://api.example.com/tickets", "method": "GET"}},
        {"id": "brief", "type": "transform", "depends_on": ["fetch"],
         "template": "{{ steps.fetch.output.title }} ({{ steps.fetch.output.count }} reports)"},
    ],
    "outputs": {"brief": "{{ steps.brief.output }}"},
}  # fmt: skip


def test_mock_runs_one_step_against_saved_upstream_data(tmp_path: Path, client: Client) -> None:
    """`run --mock STEP=@file.json`: the step downstream runs on the saved output; the
    upstream step (an http call to a host nobody allowed) never runs."""
    file = _write(tmp_path / "pipeline.yaml", PIPELINE)
    (tmp_path / "fetch.json").write_text('{"title": "Export broken", "count": 3}')
    address = client.service_client.config.target_host
    queue = f"mock-{uuid.uuid4().hex[:8]}"
    result = _cli(tmp_path, address, "run", str(file), "--offline", "--json",
                  "--mock", "fetch=@fetch.json", "--task-queue", queue)  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["outputs"] == {"brief": "Export broken (3 reports)"}
    assert document["steps"]["fetch"]["attempts"] == 0  # given, not run
    assert document["steps"]["fetch"]["output"] == {"title": "Export broken", "count": 3}


async def test_a_fallback_chain_replays_its_failed_entry_and_its_answer(
    client: Client,
    task_queue: str,
    worker_for: WorkerFactory,
    llmock: LLMock,
    keys: None,
    tmp_path: Path,
) -> None:
    llmock.fail(500, times=None, model="gpt-4o-mini", message="the primary is down")
    llmock.reply("from the fallback")
    ask = {"id": "ask", "type": "llm", "provider": "openai", "model": "gpt-4o-mini",
           "prompt": "Say something", "retry": {"max_attempts": 1},
           "fallback": [{"provider": "openai", "model": "gpt-4o"}]}  # fmt: skip
    definition = {
        "name": "fallback",
        "steps": [ask],
        "outputs": {"text": "{{ steps.ask.output }}", "who": "{{ steps.ask.answered_by.model }}"},
    }
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(client, task_queue, {"definition": definition})
        await handle.result()
    cassette = await record_run(client, handle.id)
    failed, answered = cassette.calls
    assert (failed.step, failed.occurrence, answered.occurrence) == ("ask", 0, 1)
    assert failed.failure is not None and failed.failure.type == "ProviderError"
    assert "the primary is down" in failed.failure.message
    assert cassette.expect.outputs == {"text": "from the fallback", "who": "gpt-4o"}
    assert cassette.source.file is None  # started from a definition: the pinned one replays
    path = tmp_path / "fallback.json"
    save(cassette, path)
    asked = len(llmock.requests)
    async with CassettePlayer.running(client, settings=_settings(tmp_path)) as player:
        report = await player.check(path)
    assert report.passed, report.text()
    assert len(llmock.requests) == asked


async def test_a_run_started_by_catalog_name_replays_the_catalogs_workflow(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    inputs = json.loads((ROOT / "examples/support-triage.input.json").read_text())
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"workflow": "support-triage", "inputs": inputs, "offline": True}
        )
        await handle.result()
    cassette = await record_run(client, handle.id)
    assert cassette.source.catalog == "support-triage"
    assert cassette.definition["name"] == "support-triage"  # the resolve_workflow answer
    # `audit`, a `log` action, is computed in the workflow: no call to record
    assert [c.step for c in cassette.calls] == ["assess", "draft_reply"]
    assert cassette.expect.steps["audit"] == "completed"
    path = tmp_path / "triage.json"
    save(cassette, path)
    settings = ActivitySettings(catalog_dir=ROOT / "examples", vectors_dir=tmp_path / "vectors")
    async with CassettePlayer.running(client, settings=settings) as player:
        report = await player.check(path)
    assert report.passed, report.text()


async def test_an_agent_run_replays_its_turns_and_tool_calls(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    file = ROOT / "examples/support-agent.yaml"
    inputs = json.loads((ROOT / "examples/support-agent.input.json").read_text())
    definition, library = load_with_library(file)
    request = RunInput(
        definition=definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        library=library,
        inputs=inputs,
        offline=True,
    )
    async with worker_for():
        handle = await start_run(client, task_queue, request)
        _, error = await outcome(handle)
    assert error is None, error
    cassette = await record_run(client, handle.id, source=Source(file=str(file)))
    turns = [c for c in cassette.calls if c.activity == "step_agent_turn"]
    assert [c.occurrence for c in turns] == list(range(len(turns)))
    assert len(turns) >= 2
    path = tmp_path / "agent.json"
    save(cassette, path)
    async with CassettePlayer.running(client, settings=_settings(tmp_path)) as player:
        report = await player.check(path)
    assert report.passed, report.text()


def test_the_committed_cassettes_pass_with_no_model_server(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """`test` with no PATH replays tests/runs; support-triage.json was recorded against LLMock
    and here no model server runs and no key is set."""
    address = temporal_env.client.service_client.config.target_host
    env = {k: v for k, v in _env(tmp_path).items() if not k.endswith("_API_KEY")}
    result = subprocess.run(
        [*CLI, "test", "--address", address], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS tests/runs/support-triage.json" in result.stdout
    assert result.stdout.rstrip().endswith("passed, 0 failed")

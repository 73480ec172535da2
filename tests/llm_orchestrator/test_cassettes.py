"""Recorded runs as tests: `record` a run into a cassette, `test` replays it offline.

Runs are real (the session's dev server); the model answers of the main check come
from LLMock, and the replays then reach no model server at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    result, error = await outcome(handle)
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
    assert '-    "prompt": "Classify this ticket as bug or question: export broken since Monday",' in out
    assert '+    "prompt": "Is this a bug or a question? export broken since Monday",' in out
    assert "Traceback" not in failed.stdout + failed.stderr
    assert len(llmock.requests) == asked

"""What `run` sends with a run and says about it: pinned child workflows, `--mock`,
offline stand-ins. Real CLI processes against the real Temporal dev server."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from llm_orchestrator.request import parse_mocks
from tests.llm_orchestrator.test_run_management import CLI, ROOT, _cli, _env

CHILD = """\
name: child
inputs:
  who: {type: string}
steps:
  - id: hello
    type: transform
    template: "hello {{ inputs.who }}"
outputs:
  greeting: "{{ steps.hello.output }}"
"""

PARENT = """\
name: parent
steps:
  - id: kid
    type: workflow
    workflow: child.yaml
    inputs: {who: ana}
outputs:
  said: "{{ steps.kid.output.greeting }}"
"""


def _queue() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_run_pins_the_child_workflow_a_file_names(tmp_path: Path, client: Client) -> None:
    (tmp_path / "child.yaml").write_text(CHILD, encoding="utf-8")
    (tmp_path / "parent.yaml").write_text(PARENT, encoding="utf-8")
    address = client.service_client.config.target_host
    # no catalog holds child.yaml: only the definition sent with the run can serve the step
    result = _cli(tmp_path, "run", str(tmp_path / "parent.yaml"), "--json",
                  "--address", address, "--task-queue", _queue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == {"said": "hello ana"}


MODERATION = str(ROOT / "examples" / "content-moderation.yaml")


def test_mock_makes_an_offline_run_take_another_case(tmp_path: Path, client: Client) -> None:
    address = client.service_client.config.target_host
    result = _cli(tmp_path, "run", MODERATION, "-i", "content=hello", "--offline", "--json",
                  "--mock", 'classify={"label": "block"}',
                  "--address", address, "--task-queue", _queue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    ran = {step_id for step_id, record in steps.items() if record["status"] == "completed"}
    assert {"classify", "route", "explain_block", "notify_author"} <= ran
    assert steps["publish"]["status"] == "skipped"
    assert steps["classify"]["attempts"] == 0  # mocked: it never ran


def test_mock_values_are_json_text_or_a_file_and_unknown_steps_fail(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"label": "review"}', encoding="utf-8")
    assert parse_mocks(
        ("classify=@" + str(tmp_path / "c.json"), "explain_block=no, sorry", "publish=3"),
    ) == {"classify": {"label": "review"}, "explain_block": "no, sorry", "publish": 3}
    wrong = _cli(tmp_path, "run", MODERATION, "-i", "content=x", "--offline",
                 "--mock", "clasify=x", "--address", "127.0.0.1:9")  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "error: mock `clasify`: the workflow has no such step; did you mean `classify`?"
    )


def test_run_says_when_an_offline_search_used_the_local_store(
    tmp_path: Path, client: Client
) -> None:
    address = client.service_client.config.target_host
    rag = str(ROOT / "tests" / "fixtures" / "original" / "rag-pipeline.yaml")
    result = _cli(tmp_path, "run", rag, "-i", "question=How do retries work?", "--offline",
                  "--address", address, "--task-queue", _queue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("✓ search_docs "))
    assert line.startswith("✓ search_docs completed (")
    assert line.endswith(" — offline: local store in place of pinecone")


def test_the_stand_in_is_said_whatever_the_step_binds(tmp_path: Path, client: Client) -> None:
    """The note travels with the step's record, not with an output name the file binds."""
    path = tmp_path / "search.yaml"
    path.write_text(
        "name: s\nsteps:\n  - id: search\n    type: vector_search\n    database: weaviate\n"
        "    index: nothing-here\n    query: hello\n"
    )
    address = client.service_client.config.target_host
    result = _cli(tmp_path, "run", str(path), "--offline", "--address", address,
                  "--task-queue", _queue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "✓ search " in result.stderr
    assert "— offline: local store in place of weaviate" in result.stderr


def test_run_prints_one_line_per_failed_attempt(tmp_path: Path, client: Client) -> None:
    flow = tmp_path / "flaky.yaml"
    flow.write_text(
        "name: flaky\nsteps:\n  - id: boom\n    type: action\n    action: http\n"
        "    params: {url: 'http://127.0.0.1:9/x'}\n"
        "    retry: {max_attempts: 3, initial_interval: 100ms}\n",
        encoding="utf-8",
    )
    result = _cli(tmp_path, "run", str(flow), "--address", client.service_client.config.target_host,
                  "--task-queue", _queue(),
                  LLM_ORCHESTRATOR_HTTP_ALLOW="127.0.0.1:9")  # fmt: skip
    assert result.returncode == 1
    attempts = [line for line in result.stderr.splitlines() if line.startswith("↻ ")]
    assert [line.split(" failed: ")[0] for line in attempts] == [
        "↻ boom attempt 1", "↻ boom attempt 2", "↻ boom attempt 3"
    ]  # fmt: skip
    assert all("POST http://127.0.0.1:9/x failed" in line for line in attempts)
    assert len(result.stderr.splitlines()) <= 10, result.stderr  # no tracebacks


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_no_worker_on_a_stuck_run_ends_at_once_on_a_signal(
    tmp_path: Path, client: Client, sig: signal.Signals
) -> None:
    # no worker serves this queue: the run cannot move, and `run` waits for it
    run_id = f"stuck-{uuid.uuid4().hex[:8]}"
    with subprocess.Popen(
        [*CLI, "run", str(ROOT / "examples" / "sentiment-analysis.yaml"), "-i", "text=hi",
         "--offline", "--no-worker", "--id", run_id,
         "--address", client.service_client.config.target_host, "--task-queue", _queue()],
        cwd=ROOT, env=_env(tmp_path), stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        assert process.stderr is not None
        for line in process.stderr:  # until the run has started and `run` follows it
            if line.startswith("started "):
                break
        time.sleep(1.0)
        process.send_signal(sig)
        sent = time.monotonic()
        try:
            rest = process.stderr.read()
            process.wait(timeout=15)
        finally:
            process.kill()
    assert time.monotonic() - sent < 10, "run stayed alive after the signal"
    assert process.returncode == 130, rest
    assert f"interrupted: run {run_id} goes on in Temporal. Re-attach with" in rest

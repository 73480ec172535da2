"""Live tokens: `run` and `watch` print a streamed step's text while the model writes it.

The model is LLMock (an independent OpenAI-compatible server), paced so that it sends
one word every ``_PACE_MS``: a 40-word reply takes about two seconds. The CLI runs as
a real process against the test's Temporal dev server; its stderr is read as it comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from llmock.pytest_plugin import LLMock
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamClient

from interpreter.contract import TokenBatch
from tests.helpers.providers import OPENAI_KEY, config_for
from tests.helpers.runs import start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "llm_orchestrator.cli"]
_PACE_MS = 50
_REPLY = " ".join(f"word{i}" for i in range(40))
_LONG_REPLY = " ".join(f"word{i}" for i in range(200))
"""Ten seconds of words: time for a second CLI process to start and attach."""


def _files(tmp_path: Path, llmock: LLMock, *, steps: int = 1) -> tuple[Path, Path]:
    config = tmp_path / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {"providers": {"openai": {"base_url": llmock.base_url("openai"), "http2": False}}}
        )
    )
    definition = {
        "name": "streamed",
        "steps": [
            {
                "id": f"ask{i}" if steps > 1 else "ask",
                "type": "llm",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "prompt": "Say forty words",
                "stream": True,
            }
            for i in range(steps)
        ],
        "outputs": {"answer": "{{ steps.ask.output }}"} if steps == 1 else {},
    }
    workflow = tmp_path / "streamed.json"
    workflow.write_text(json.dumps(definition))
    return workflow, config


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "OTEL_", "LLM_ORCHESTRATOR_"))
    }
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-temporal-config.toml")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["OPENAI_API_KEY"] = OPENAI_KEY
    env["PYTHONPATH"] = str(ROOT)
    return env


class _Reader:
    """A process's stream, read as it comes: what arrived, and when each piece did."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.pieces: list[tuple[float, str]] = []
        self._task = asyncio.ensure_future(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(256):
            self.pieces.append((time.monotonic(), chunk.decode(errors="replace")))

    @property
    def text(self) -> str:
        return "".join(piece for _, piece in self.pieces)

    def when(self, needle: str) -> float:
        """When ``needle`` had arrived in full."""
        text = ""
        for at, piece in self.pieces:
            text += piece
            if needle in text:
                return at
        raise AssertionError(f"{needle!r} never arrived in {text!r}")

    async def until(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"{needle!r} not in {self.text!r}"
            await asyncio.sleep(0.02)

    async def done(self) -> None:
        await self._task


@contextlib.asynccontextmanager
async def _cli(
    *args: str, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, _Reader, _Reader]]:
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = _Reader(process.stdout), _Reader(process.stderr)
    try:
        yield process, out, err
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _spoken(text: str, step: str = "ask") -> str:
    """What the lines of ``step``'s tokens say, joined."""
    prefix = f"{step} › "
    return "".join(line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix))


def _flags(client: Client, task_queue: str) -> list[str]:
    return ["--address", client.service_client.config.target_host, "--task-queue", task_queue]


async def _stream_events(client: Client, workflow_id: str) -> dict[str, int]:
    counts = {"signals": 0, "updates": 0, "events": 0}
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        counts["events"] += 1
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            counts["signals"] += 1
        elif event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        ):
            counts["updates"] += 1
    return counts


async def test_run_prints_tokens_before_the_step_completes_and_history_holds_batches(
    client: Client, llmock: LLMock, tmp_path: Path
) -> None:
    llmock.pace(_PACE_MS).reply(_REPLY)
    workflow, config = _files(tmp_path, llmock)
    run_id = f"live-{uuid.uuid4().hex[:8]}"
    task_queue = f"live-{uuid.uuid4().hex[:8]}"
    args = ["run", str(workflow), "--config", str(config), "--id", run_id]
    async with _cli(*args, *_flags(client, task_queue), tmp_path=tmp_path) as (process, out, err):
        await err.until("ask › word0")
        # the first words are on screen while the model still writes the rest
        assert "✓ ask completed" not in err.text
        assert "word39" not in err.text
        assert out.text == ""
        assert await asyncio.wait_for(process.wait(), 120) == 0, err.text
        await out.done()
        await err.done()
    first = err.when("ask › word0")
    completed = err.when("✓ ask completed")
    assert completed - first > 1.0, err.text  # about 40 × 50 ms after the first word
    assert err.when("word39") < completed
    # the tokens as the model sent them, on lines of their own (a step line in between
    # starts a new one, under the step's name again), all before the step line
    assert _spoken(err.text[: err.text.index("✓ ask completed")]) == _REPLY
    assert out.text == f"answer: {_REPLY}\n"

    counts = await _stream_events(client, run_id)
    words = len(_REPLY.split())
    # one signal per batch (every 200 ms), not one per token; polls are Updates
    assert 1 <= counts["signals"] <= words // 3, counts
    assert counts["signals"] + counts["updates"] < words, counts


async def test_tokens_do_not_mix_into_json_output(
    client: Client, llmock: LLMock, tmp_path: Path
) -> None:
    llmock.pace(10).reply(_REPLY)
    workflow, config = _files(tmp_path, llmock)
    task_queue = f"live-{uuid.uuid4().hex[:8]}"
    args = ["run", str(workflow), "--config", str(config), "--json"]
    async with _cli(*args, *_flags(client, task_queue), tmp_path=tmp_path) as (process, out, err):
        assert await asyncio.wait_for(process.wait(), 120) == 0
        await out.done()
        await err.done()
    document: dict[str, Any] = json.loads(out.text)
    assert document["outputs"]["answer"] == _REPLY
    assert _spoken(err.text) == _REPLY


async def test_watch_attaches_mid_run_and_after_it(
    client: Client, llmock: LLMock, tmp_path: Path
) -> None:
    llmock.pace(_PACE_MS).reply(_LONG_REPLY)
    workflow, config = _files(tmp_path, llmock)
    run_id = f"live-{uuid.uuid4().hex[:8]}"
    task_queue = f"live-{uuid.uuid4().hex[:8]}"
    flags = _flags(client, task_queue)
    run_args = ["run", str(workflow), "--config", str(config), "--id", run_id]
    watch_args = ["watch", run_id, "--address", flags[1]]
    async with _cli(*run_args, *flags, tmp_path=tmp_path) as (run, _, run_err):
        await run_err.until("word5")
        async with _cli(*watch_args, tmp_path=tmp_path) as (watch, out, _):
            await out.until("ask › word")
            assert "✓ ask completed" not in run_err.text  # attached while the model writes
            assert "word199" not in out.text
            assert await asyncio.wait_for(watch.wait(), 120) == 0
            await out.done()
        assert await asyncio.wait_for(run.wait(), 120) == 0
    # attached mid-stream, it shows the whole text all the same (the stream keeps it)
    assert out.text == f"ask › {_LONG_REPLY}\nanswer: {_LONG_REPLY}\n"

    # a closed run: the tokens it kept, then the result (a worker answers the query)
    worker_args = ["worker", "--config", str(config), *flags, "--catalog", str(ROOT / "examples")]
    async with _cli(*worker_args, tmp_path=tmp_path) as (worker, _, _):
        async with _cli(*watch_args, tmp_path=tmp_path) as (watch, out, _):
            assert await asyncio.wait_for(watch.wait(), 120) == 0
            await out.done()
        worker.terminate()
        await worker.wait()
    assert out.text == f"ask › {_LONG_REPLY}\nanswer: {_LONG_REPLY}\n"


async def test_a_worker_restart_mid_stream_keeps_the_tokens_and_the_run_completes(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, keys: None
) -> None:
    llmock.pace(_PACE_MS).reply(_LONG_REPLY, times=2)
    definition = {
        "name": "restarted",
        "steps": [
            {"id": "ask", "type": "llm", "provider": "openai", "model": "gpt-4o-mini",
             "prompt": "Say many words", "stream": True,
             "retry": {"max_attempts": 3, "initial_interval": "100ms"}},
        ],
    }  # fmt: skip
    batches: list[TokenBatch] = []

    async def subscribe(workflow_id: str) -> None:
        stream = WorkflowStreamClient.create(client, workflow_id)
        async for item in stream.subscribe(["tokens"], result_type=TokenBatch):
            batches.append(item.data)

    config = config_for(llmock)
    async with worker_for(config=config):
        handle = await start_run(client, task_queue, {"definition": definition})
        reading = asyncio.ensure_future(subscribe(handle.id))
        while not any("word5" in b.text for b in batches):
            await asyncio.sleep(0.05)
    # the worker is gone mid-stream; another one takes the step over
    async with worker_for(config=config):
        result = await asyncio.wait_for(handle.result(), 120)
        await asyncio.wait_for(reading, 30)
    assert result.steps["ask"].output == _LONG_REPLY
    first = "".join(b.text for b in batches if b.attempt == 1)
    again = "".join(b.text for b in batches if b.attempt == 2)
    assert "word5" in first and not first.startswith(_LONG_REPLY)  # cut off mid-stream
    assert again == _LONG_REPLY  # the retry's text, told apart by its attempt
    assert batches[-1].done and batches[-1].attempt == 2


async def test_steps_of_child_runs_publish_to_the_top_run(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, keys: None
) -> None:
    llmock.pace(10).reply("one two three", times=None)
    definition = {
        "name": "mapped",
        "inputs": {"topics": {"type": "array"}},
        "steps": [
            {"id": "each", "type": "map", "items": "{{ inputs.topics }}",
             "step": {"type": "llm", "provider": "openai", "model": "gpt-4o-mini",
                      "prompt": "Say three words about {{ item }}", "stream": True}},
        ],
    }  # fmt: skip
    batches: list[TokenBatch] = []
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(
            client, task_queue, {"definition": definition, "inputs": {"topics": ["a", "b"]}}
        )
        await handle.result()
        stream = WorkflowStreamClient.create(client, handle.id)
        async for item in stream.subscribe(["tokens"], result_type=TokenBatch):
            batches.append(item.data)
    # both items' text, in the top run's stream, each naming its child run and step
    by_step = {(b.run, b.step): "" for b in batches}
    for b in batches:
        by_step[(b.run, b.step)] += b.text
    assert sorted(step for _, step in by_step) == ["item_0", "item_1"]
    assert all(run.startswith(f"{handle.id}/each/") for run, _ in by_step)
    assert set(by_step.values()) == {"one two three"}

"""Durability of `map` and `approval`: SIGKILL the worker process mid-run, start another.

Each map item is an `llm` step against a slow loopback model that counts the requests
per prompt, so "no finished item runs again" is observable: an item whose completion
Temporal had recorded before the kill is asked exactly once. Items that were in flight
at the kill (asked, not yet recorded as done) are asked again by the new worker once
Temporal notices the dead one (the heartbeat timeout); that is at-least-once by design.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from temporalio.client import Client, WorkflowHandle

from interpreter.contract import (
    QUERY_PROGRESS,
    UPDATE_APPROVE,
    Decision,
    Progress,
    RunResult,
)
from tests.helpers.chaos import SlowChatModel, stop, worker_process
from tests.helpers.net import serve_http
from tests.helpers.runs import start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

ITEMS = 16
ITEM_SECONDS = 1.0


class _CountingModel(SlowChatModel):
    """Answers after ITEM_SECONDS; counts the prompts asked and answered."""

    delay = ITEM_SECONDS
    asked: ClassVar[Counter[str]] = Counter()
    answered: ClassVar[Counter[str]] = Counter()

    def arrived(self, prompt: str) -> None:
        self.asked[prompt] += 1

    def delivered(self, prompt: str) -> None:
        self.answered[prompt] += 1

    def reply_text(self, prompt: str) -> str:
        return f"done: {prompt}"


@pytest.fixture
def counting_model() -> Iterator[str]:
    _CountingModel.asked = Counter()
    _CountingModel.answered = Counter()
    with serve_http(_CountingModel) as url:
        yield f"{url}/v1"


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


LLM = {"type": "llm", "provider": "openai", "model": "m", "timeout": "60s"}

MAP = {
    "name": "chaos-map",
    "steps": [
        {
            "id": "each",
            "type": "map",
            "items": list(range(ITEMS)),
            "max_concurrency": 2,
            "step": {**LLM, "prompt": "item {{ index }}"},
        }
    ],
}


@pytest.mark.timeout(240)
async def test_a_map_killed_half_way_completes_and_no_finished_item_runs_again(
    client: Client, task_queue: str, counting_model: str, tmp_path: Path
) -> None:
    address = client.service_client.config.target_host
    first = worker_process(address, task_queue, counting_model, tmp_path)
    replacement: subprocess.Popen[bytes] | None = None
    try:
        handle = await start_run(client, task_queue, {"definition": MAP, "inputs": {}})
        batch = client.get_workflow_handle(f"{handle.id}/each/batch-0")
        deadline = time.monotonic() + 90
        finished: set[int] = set()
        while len(finished) < ITEMS // 2:
            assert time.monotonic() < deadline, f"only {len(finished)} items finished in 90 s"
            await asyncio.sleep(0.2)
            if sum(_CountingModel.answered.values()) < ITEMS // 2:
                continue
            progress: Progress = await batch.query(QUERY_PROGRESS, result_type=Progress)
            finished = {
                int(step_id.removeprefix("item_"))
                for step_id, record in progress.steps.items()
                if step_id.startswith("item_") and record.status == "completed"
            }  # recorded by Temporal: these must never be asked again
        _kill(first)
        in_flight = {
            p for p in _CountingModel.asked if int(p.removeprefix("item ")) not in finished
        }

        replacement = worker_process(address, task_queue, counting_model, tmp_path)
        result: RunResult = await asyncio.wait_for(handle.result(), timeout=150)
    finally:
        stop(first, replacement)

    assert result.steps["each"].output == [f"done: item {i}" for i in range(ITEMS)]
    assert ITEMS // 2 <= len(finished) < ITEMS, "the kill did not land half way"
    for i in finished:
        assert _CountingModel.asked[f"item {i}"] == 1, f"finished item {i} ran again"
    assert all(_CountingModel.asked[f"item {i}"] >= 1 for i in range(ITEMS))
    again = sorted(p for p, n in _CountingModel.asked.items() if n > 1)
    assert set(again) <= in_flight, "only items in flight at the kill may run twice"
    print(f"finished before the kill: {len(finished)}; in flight, asked again: {again}")


APPROVAL = {
    "name": "chaos-approval",
    "steps": [
        {**LLM, "id": "draft", "prompt": "draft"},
        {
            "id": "review",
            "type": "approval",
            "depends_on": ["draft"],
            "message": "Publish {{ steps.draft.output }}?",
            "timeout": "10m",
        },
        {**LLM, "id": "publish", "depends_on": ["review"], "prompt": "publish"},
    ],
}


async def _waiting(handle: WorkflowHandle[Any, Any], within: float) -> Progress:
    deadline = time.monotonic() + within
    while True:
        try:
            progress: Progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
            if progress.waiting:
                return progress
        except Exception:
            if time.monotonic() > deadline:
                raise  # e.g. no worker answers the query
        assert time.monotonic() < deadline, "the run never waited for the approval"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(180)
async def test_a_run_killed_while_waiting_for_approval_completes_after_a_restart(
    client: Client, task_queue: str, counting_model: str, tmp_path: Path
) -> None:
    address = client.service_client.config.target_host
    first = worker_process(address, task_queue, counting_model, tmp_path)
    replacement: subprocess.Popen[bytes] | None = None
    try:
        handle = await start_run(client, task_queue, {"definition": APPROVAL, "inputs": {}})
        await _waiting(handle, within=60)
        _kill(first)

        replacement = worker_process(address, task_queue, counting_model, tmp_path)
        progress = await _waiting(handle, within=60)  # the new worker rebuilt the state
        (waiting,) = progress.waiting
        assert (waiting.step, waiting.message) == ("review", "Publish done: draft?")
        answer = await handle.execute_update(
            UPDATE_APPROVE, Decision(step="review", approved=True, by="ana"), result_type=str
        )
        result: RunResult = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        stop(first, replacement)

    assert answer == "step `review` approved"
    assert result.steps["review"].output["approved"] is True
    assert result.steps["review"].output["by"] == "ana"
    assert result.steps["publish"].output == "done: publish"
    assert _CountingModel.asked == {"draft": 1, "publish": 1}, "a finished step ran again"

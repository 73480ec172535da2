"""Chaos (bounded, loopback only): SIGKILL the worker while steps with a one-minute timeout
are in flight. Heartbeats let Temporal notice the dead worker within the heartbeat timeout
(20 s), not the step's timeout, so every run resumes on the next worker and none is lost.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from temporalio.client import Client

from tests.helpers.chaos import SlowChatModel, stop, worker_process
from tests.helpers.net import serve_http
from tests.helpers.runs import start_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = 4
STEP_SECONDS = 4.0


class _SlowModel(SlowChatModel):
    """Takes STEP_SECONDS to answer; records when each prompt arrived."""

    delay = STEP_SECONDS
    arrivals: ClassVar[list[tuple[float, str]]] = []

    def arrived(self, prompt: str) -> None:
        self.arrivals.append((time.monotonic(), prompt))


@pytest.fixture
def slow_model() -> Iterator[str]:
    _SlowModel.arrivals = []
    with serve_http(_SlowModel) as url:
        yield f"{url}/v1"


def _definition(run: int) -> dict[str, Any]:
    step = {"type": "llm", "provider": "openai", "model": "m", "timeout": "60s"}
    return {
        "name": "chaos",
        "steps": [
            {**step, "id": "first", "prompt": f"run {run} first"},
            {**step, "id": "second", "prompt": f"run {run} second", "depends_on": ["first"]},
        ],
    }


@pytest.mark.timeout(240)
@pytest.mark.asyncio(loop_scope="session")
async def test_runs_resume_within_20s_of_a_new_worker_after_a_sigkill(
    client: Client, task_queue: str, slow_model: str, tmp_path: Path
) -> None:
    address = client.service_client.config.target_host
    first = worker_process(address, task_queue, slow_model, tmp_path)
    replacement: subprocess.Popen[bytes] | None = None
    try:
        handles = [
            await start_run(client, task_queue, {"definition": _definition(i), "inputs": {}})
            for i in range(RUNS)
        ]
        deadline = time.monotonic() + 60
        while len(_SlowModel.arrivals) < RUNS and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(_SlowModel.arrivals) >= RUNS, "the first steps never reached the model"
        in_flight = {prompt for _, prompt in _SlowModel.arrivals}
        first.send_signal(signal.SIGKILL)  # mid-request: no reply will ever be delivered
        first.wait(timeout=10)

        await asyncio.sleep(2)
        replacement = worker_process(address, task_queue, slow_model, tmp_path)
        restarted = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=150
        )
    finally:
        stop(first, replacement)

    assert all(r.steps["second"].status == "completed" for r in results), "a run was lost"
    for prompt in in_flight:
        resent = [t for t, p in _SlowModel.arrivals if p == prompt and t > restarted]
        assert resent, f"{prompt!r} never ran again"
        assert resent[0] - restarted < 20, f"{prompt!r} resumed {resent[0] - restarted:.1f}s late"
        print(f"{prompt}: resumed {resent[0] - restarted:.1f}s after the new worker started")

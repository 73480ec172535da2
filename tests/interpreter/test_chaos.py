"""Chaos (bounded, loopback only): SIGKILL the worker while steps with a one-minute timeout
are in flight. Heartbeats let Temporal notice the dead worker within the heartbeat timeout
(20 s), not the step's timeout, so every run resumes on the next worker and none is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from temporalio.client import Client

from tests.helpers.net import serve_http
from tests.helpers.runs import start_run

ROOT = Path(__file__).resolve().parents[2]
RUNS = 4
STEP_SECONDS = 4.0


class _SlowModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that takes STEP_SECONDS to answer."""

    arrivals: ClassVar[list[tuple[float, str]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.arrivals.append((time.monotonic(), prompt))
        time.sleep(STEP_SECONDS)
        reply = {
            "id": "c1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
        data = json.dumps(reply).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the worker that asked is gone

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_model() -> Iterator[str]:
    _SlowModel.arrivals = []
    with serve_http(_SlowModel) as url:
        yield f"{url}/v1"


def _worker(
    address: str, task_queue: str, base_url: str, tmp_path: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(OPENAI_BASE_URL=base_url, XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("OPENAI_API_KEY", None)
    return subprocess.Popen(
        [sys.executable, "worker.py", "--address", address, "--task-queue", task_queue],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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
    first = _worker(address, task_queue, slow_model, tmp_path)
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
        replacement = _worker(address, task_queue, slow_model, tmp_path)
        restarted = time.monotonic()
        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), timeout=150
        )
    finally:
        for process in (first, replacement):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    assert all(r.steps["second"].status == "completed" for r in results), "a run was lost"
    for prompt in in_flight:
        resent = [t for t, p in _SlowModel.arrivals if p == prompt and t > restarted]
        assert resent, f"{prompt!r} never ran again"
        assert resent[0] - restarted < 20, f"{prompt!r} resumed {resent[0] - restarted:.1f}s late"
        print(f"{prompt}: resumed {resent[0] - restarted:.1f}s after the new worker started")

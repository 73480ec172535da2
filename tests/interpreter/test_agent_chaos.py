"""Chaos (loopback only): SIGKILL the worker between an agent's turn 2 and turn 3. The
finished turns and tool calls are in the run's history, so the new worker asks the model
for turn 3 only and runs no tool again: counted on the model server and on the tool."""

from __future__ import annotations

import asyncio
import json
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
import yaml
from temporalio.client import Client

from tests.helpers.chaos import send_chat_completion, stop, worker_process
from tests.helpers.net import serve_http
from tests.helpers.runs import start_run

ROOT = Path(__file__).resolve().parents[2]


class _ScriptedModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that scripts an agent: a tool call in turns 1 and
    2, then a slow final answer in turn 3 (the worker is killed while it waits)."""

    turns: ClassVar[list[int]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        turn = 1 + sum(1 for m in body["messages"] if m["role"] == "assistant")
        with self.lock:
            self.turns.append(turn)
        message: dict[str, Any]
        if turn <= 2:
            call = {
                "id": f"call_{turn}",
                "type": "function",
                "function": {"name": "tally", "arguments": json.dumps({"key": f"turn{turn}"})},
            }
            message, finish = (
                {"role": "assistant", "content": None, "tool_calls": [call]},
                "tool_calls",
            )
        else:
            time.sleep(3)
            message, finish = {"role": "assistant", "content": "done after two lookups"}, "stop"
        send_chat_completion(self, body["model"], message, finish)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model() -> Iterator[str]:
    _ScriptedModel.turns = []
    with serve_http(_ScriptedModel) as url:
        yield f"{url}/v1"


DEFINITION = {
    "name": "agent-chaos",
    "steps": [
        {
            "id": "support",
            "type": "agent",
            "provider": "openai",
            "model": "m",
            "prompt": "count twice",
            "max_turns": 5,
            "timeout": "60s",
            "tools": [{"mcp": "counter", "allow": ["tally"]}],
            "output": ["answer"],
        }
    ],
    "outputs": {"answer": "{{ steps.support.answer }}"},
}


@pytest.mark.timeout(180)
@pytest.mark.asyncio(loop_scope="session")
async def test_a_sigkill_between_turns_repeats_no_turn_and_no_tool_call(
    client: Client,
    task_queue: str,
    model: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "tool-state"
    state.mkdir()
    config = tmp_path / "worker.yaml"
    server = {
        "command": sys.executable,
        "args": ["-m", "tests.fakes.mcp_tools", str(state)],
        "cwd": str(ROOT),
        "env": {"PYTHONPATH": str(ROOT)},
    }
    config.write_text(yaml.safe_dump({"mcp_servers": {"counter": server}}))
    monkeypatch.setenv("LLM_ORCHESTRATOR_CONFIG", str(config))
    address = client.service_client.config.target_host
    first = worker_process(address, task_queue, model, tmp_path)
    replacement: subprocess.Popen[bytes] | None = None
    try:
        handle = await start_run(client, task_queue, {"definition": DEFINITION, "inputs": {}})
        deadline = time.monotonic() + 60
        while 3 not in _ScriptedModel.turns and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert 3 in _ScriptedModel.turns, f"turn 3 never reached the model: {_ScriptedModel.turns}"
        first.send_signal(signal.SIGKILL)  # turn 3 is in flight: its answer is never delivered
        first.wait(timeout=10)
        replacement = worker_process(address, task_queue, model, tmp_path)
        result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        stop(first, replacement)

    assert result.outputs["answer"] == "done after two lookups"
    turns = _ScriptedModel.turns
    assert turns.count(1) == 1 and turns.count(2) == 1, turns  # not asked again
    assert turns.count(3) == 2, turns  # the turn in flight, then once on the new worker
    # each tool call ran once, before the kill; the new worker did not run them again
    assert (state / "tally-turn1").read_text() == "1"
    assert (state / "tally-turn2").read_text() == "1"
    transcript = result.steps["support"].transcript
    assert transcript is not None
    assert [c["result"]["count"] for t in transcript["turns"] for c in t["tool_calls"]] == [1, 1]

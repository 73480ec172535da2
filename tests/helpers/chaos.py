"""What the chaos tests kill and what they kill it in front of.

A worker as a real process (``python worker.py``, as deployed), and a slow
OpenAI-compatible chat endpoint that records each request, so a test can see which
step attempts reached the model before and after a SIGKILL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["SlowChatModel", "send_chat_completion", "stop", "worker_process"]

ROOT = Path(__file__).resolve().parents[2]


def send_chat_completion(
    handler: BaseHTTPRequestHandler, model: str, message: dict[str, Any], finish_reason: str
) -> bool:
    """Answer an OpenAI chat request with one choice; ``False`` when the asker is gone."""
    reply = {
        "id": "c1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    data = json.dumps(reply).encode()
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        return False  # the worker that asked is gone
    return True


class SlowChatModel(BaseHTTPRequestHandler):
    """Answers a chat completion after ``delay`` seconds; subclasses note what arrives."""

    delay: ClassVar[float] = 1.0
    lock: ClassVar[threading.Lock] = threading.Lock()

    def arrived(self, prompt: str) -> None:
        """A request for ``prompt`` came in (called under ``lock``)."""

    def delivered(self, prompt: str) -> None:
        """The answer to ``prompt`` was sent (called under ``lock``)."""

    def reply_text(self, prompt: str) -> str:
        return "ok"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.arrived(prompt)
        time.sleep(self.delay)
        message = {"role": "assistant", "content": self.reply_text(prompt)}
        if not send_chat_completion(self, body["model"], message, "stop"):
            return
        with self.lock:
            self.delivered(prompt)

    def log_message(self, *args: Any) -> None:
        pass


def worker_process(
    address: str, task_queue: str, base_url: str, tmp_path: Path
) -> subprocess.Popen[bytes]:
    """``python worker.py`` on ``task_queue``, its OpenAI-compatible model at ``base_url``."""
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


def stop(*processes: subprocess.Popen[bytes] | None) -> None:
    """Kill whatever of ``processes`` still runs, and reap it."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

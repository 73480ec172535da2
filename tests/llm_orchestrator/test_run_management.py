"""Run management as a user meets it: real CLI processes against the real Temporal dev server.

`run --json`, `start` (ids and Web UI URL), `status`, `result`, `cancel`, `list`,
Ctrl-C on `run`, a duplicate `--id`, and the exit codes of docs/cli.md.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from activities import ActivitySettings
from interpreter.contract import QUERY_PROGRESS, Progress, RunResult
from llm_orchestrator.devserver import port_open

# every test here runs CLI processes, ~1.2 s of CPU each: 15-20 s each on a busy machine,
# and some tests run eight of them one after another
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "llm_orchestrator.cli"]
SENTIMENT = str(ROOT / "examples" / "sentiment-analysis.yaml")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "LLM_ORCH"))}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-temporal-config.toml")
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _cli(
    tmp_path: Path, *argv: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CLI, *argv], cwd=ROOT, env=_env(tmp_path, **env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert "Fatal Python error" not in result.stderr, result.stderr
    return result


@pytest.fixture
def address(client: Client) -> str:
    return client.service_client.config.target_host


# --- a loopback webhook that answers slowly, to have a step in flight -----------------------------


@dataclass
class SlowHook:
    url: str
    delay: float = 3.0
    """Seconds each POST is held before its answer; ``math.inf``: never answered, but kept
    alive (a byte of the body each second, so no read timeout fires) until the client
    leaves or the test ends."""
    allow: str = ""
    """The ``LLM_ORCHESTRATOR_HTTP_ALLOW`` entry for it (loopback needs its port)."""
    posts: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    """Set when the test ends: a POST still held is dropped."""


@pytest.fixture
def slow_hook() -> Iterator[SlowHook]:
    hook = SlowHook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.posts.append(self.path)
            hook.arrived.set()
            if math.isinf(hook.delay):
                self.trickle()
                return
            # the step is in flight while the test acts; at the test's end, drop the request
            if hook.released.wait(hook.delay):
                return
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def trickle(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()  # no length: the body ends when the connection does
            try:
                while not hook.released.wait(1.0):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:
                pass  # the client left: the step was cancelled

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True  # a cancelled step's request need not be waited for
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    hook.allow = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield hook
    finally:
        hook.released.set()
        server.shutdown()
        server.server_close()


def _slow_workflow(tmp_path: Path, hook: SlowHook) -> Path:
    path = tmp_path / "slow-post.yaml"
    path.write_text(
        f"""name: slow-post
steps:
  - id: post
    type: action
    action: http
    params: {{url: "{hook.url}", body: {{n: 1}}}}
    retry: {{max_attempts: 1}}
outputs:
  answer: "{{{{ steps.post.output.status }}}}"
""",
        encoding="utf-8",
    )
    return path


# --- 1. run --json / readable run output ----------------------------------------------------------


def test_run_json_prints_only_the_whole_result(tmp_path: Path, address: str) -> None:
    result = _cli(tmp_path, "run", SENTIMENT, "-i", "text=Thanks a lot!", "--offline", "--json",
                  "--address", address, "--task-queue", f"t-{uuid.uuid4().hex[:8]}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    parsed = RunResult.model_validate(json.loads(result.stdout))  # stdout is one JSON document
    assert parsed.outputs["sentiment"] == "positive"
    assert set(parsed.steps) == {"extract_sentiment", "generate_response", "log_result"}


def test_run_prints_outputs_readably_and_one_line_per_step(tmp_path: Path, address: str) -> None:
    result = _cli(tmp_path, "run", SENTIMENT, "-i", "text=Thanks a lot!", "--offline",
                  "--address", address, "--task-queue", f"t-{uuid.uuid4().hex[:8]}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "sentiment: positive"
    assert result.stdout.startswith("sentiment: positive\nresponse: ")
    assert len(result.stdout.splitlines()) == 2
    steps = [line for line in result.stderr.splitlines() if line.startswith("✓ ")]
    assert [line.split()[1] for line in steps] == [
        "extract_sentiment", "generate_response", "log_result"
    ]  # fmt: skip
    assert "sentiment-analysis v1.0 completed in" in result.stderr.splitlines()[-1]


# --- 2. start -------------------------------------------------------------------------------------


def test_start_prints_ids_and_the_web_ui_url_and_returns_at_once(
    tmp_path: Path, address: str
) -> None:
    # no worker serves this queue, so the run cannot end: `start` must not wait for it
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    result = _cli(tmp_path, "start", SENTIMENT, "-i", "text=hi", "--offline", "--id", f"s-{queue}",
                  "--address", address, "--task-queue", queue,
                  "--ui-url", "http://ui.test:8080/")  # fmt: skip
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    # "at once" measured against another short command on this machine now, not against a
    # fixed number of seconds (a busy machine takes 20 s to start any CLI process)
    began = time.monotonic()
    status = _cli(tmp_path, "status", f"s-{queue}", "--address", address)
    baseline = time.monotonic() - began
    assert "state       running" in status.stdout, status.stdout
    assert took < 3 * baseline + 5, (took, baseline)
    lines = dict(line.split(None, 1) for line in result.stdout.replace("workflow id", "workflow_id")
                 .replace("run id", "run_id").replace("Web UI", "web_ui").splitlines())  # fmt: skip
    assert lines["workflow_id"] == f"s-{queue}"
    run_id = lines["run_id"]
    assert lines["web_ui"] == f"http://ui.test:8080/namespaces/default/workflows/s-{queue}/{run_id}"
    assert lines["result"] == f"llm-orchestrator result s-{queue} --address {address}"

    # the same from the environment variable, as JSON
    ui = "https://temporal.example"
    result = _cli(tmp_path, "start", SENTIMENT, "-i", "text=hi", "--json", "--address", address,
                  "--task-queue", queue, LLM_ORCHESTRATOR_UI_URL=ui)  # fmt: skip
    started = json.loads(result.stdout)
    assert started["ui_url"] == (
        f"https://temporal.example/namespaces/default/workflows/{started['workflow_id']}/"
        f"{started['run_id']}"
    )


def test_start_on_the_embedded_server_address_links_the_dev_server_ui() -> None:
    from llm_orchestrator.webui import run_url, ui_base

    assert ui_base(None, "127.0.0.1:7233") == "http://127.0.0.1:8233"
    assert ui_base(None, "temporal.internal:7233") is None
    assert run_url("http://127.0.0.1:8233", "default", "a b", "r1") == (
        "http://127.0.0.1:8233/namespaces/default/workflows/a%20b/r1"
    )


# --- 3. status / result / cancel / list -----------------------------------------------------------


async def _cli_async(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_cli, tmp_path, *argv)


@pytest.mark.asyncio(loop_scope="session")
async def test_status_result_and_list_of_a_run_that_waits_then_completes(
    tmp_path: Path, address: str, client: Client, task_queue: str, worker_for: Any
) -> None:
    run_id = f"managed-{uuid.uuid4().hex[:8]}"
    started = await _cli_async(tmp_path, "start", SENTIMENT, "-i", "text=hi", "--offline",
                               "--id", run_id, "--address", address,
                               "--task-queue", task_queue)  # fmt: skip
    assert started.returncode == 0, started.stderr

    # no worker yet: status says what the run waits for
    status = await _cli_async(tmp_path, "status", run_id, "--address", address)
    assert status.returncode == 0, status.stderr
    assert "state       running" in status.stdout
    assert f"waits for   a worker on task queue `{task_queue}`" in status.stdout

    running = await _cli_async(tmp_path, "list", "--status", "running", "--json", "-n", "1000",
                               "--address", address)  # fmt: skip
    assert run_id in [r["workflow_id"] for r in json.loads(running.stdout)]

    async with worker_for():
        waited = await _cli_async(tmp_path, "result", run_id, "--json", "--address", address)
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["outputs"]["sentiment"] == "positive"

        status = await _cli_async(tmp_path, "status", run_id, "--json", "--address", address)
    report = json.loads(status.stdout)
    assert report["state"] == "completed"
    assert report["workflow"] == "sentiment-analysis"
    assert {k: v["status"] for k, v in report["steps"].items()} == {
        "extract_sentiment": "completed", "generate_response": "completed",
        "log_result": "completed",
    }  # fmt: skip
    assert report["steps"]["extract_sentiment"]["attempts"] == 1
    assert report["usage"]["input_tokens"] > 0

    # closed, no worker left: the status still has the steps (from the result)
    text = await _cli_async(tmp_path, "status", run_id, "--address", address)
    assert "✓ log_result" in text.stdout and "state       completed" in text.stdout

    listed = await _cli_async(tmp_path, "list", "--address", address, "-n", "1000")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(run_id + " "))
    assert row.split()[1] == "completed"
    running = await _cli_async(tmp_path, "list", "--status", "running", "--json", "-n", "1000",
                               "--address", address)  # fmt: skip
    assert run_id not in [r["workflow_id"] for r in json.loads(running.stdout)]


@pytest.mark.asyncio(loop_scope="session")
async def test_cancel_ends_the_run_and_result_reports_it(
    tmp_path: Path, address: str, client: Client, task_queue: str, worker_for: Any,
    slow_hook: SlowHook,
) -> None:  # fmt: skip
    # the step stays in flight until it is cancelled, however long `status` and `cancel`
    # take to start on a busy machine (a fixed delay raced them: the step could end first)
    slow_hook.delay = math.inf
    flow = _slow_workflow(tmp_path, slow_hook)
    run_id = f"cancel-{uuid.uuid4().hex[:8]}"
    settings = ActivitySettings(http_allowed_hosts=frozenset({slow_hook.allow}))
    async with worker_for(settings=settings):
        started = await _cli_async(tmp_path, "start", str(flow), "--id", run_id,
                                   "--address", address, "--task-queue", task_queue)  # fmt: skip
        assert started.returncode == 0, started.stderr
        waiting = asyncio.create_task(_cli_async(tmp_path, "result", run_id, "--address", address))
        assert await asyncio.to_thread(slow_hook.arrived.wait, 120)
        status = await _cli_async(tmp_path, "status", run_id, "--address", address)
        assert "\n  … post running\n" in status.stdout
        assert "waits for   step post (action)" in status.stdout
        cancelled = await _cli_async(tmp_path, "cancel", run_id, "--address", address)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.strip() == f"cancellation requested for {run_id}"
        waited = await waiting
    assert waited.returncode == 1
    assert f"run {run_id} was cancelled" in waited.stderr
    description = await client.get_workflow_handle(run_id).describe()
    assert description.status == WorkflowExecutionStatus.CANCELED
    again = await _cli_async(tmp_path, "cancel", run_id, "--address", address)
    assert again.returncode == 1
    assert f"run {run_id} is already canceled" in again.stderr


def test_unknown_ids_fail_plainly(tmp_path: Path, address: str) -> None:
    for command in ("status", "result", "cancel"):
        result = _cli(tmp_path, command, "no-such-run-xyz", "--address", address)
        assert result.returncode == 1, command
        assert result.stderr.strip() == "error: no run with id no-such-run-xyz"


def test_result_of_a_failed_run_exits_1(tmp_path: Path, address: str) -> None:
    bad = tmp_path / "fails.yaml"
    bad.write_text(
        "name: fails\nsteps:\n  - id: boom\n    type: action\n    action: http\n"
        "    params: {url: 'http://blocked.invalid/x'}\n    retry: {max_attempts: 1}\n",
        encoding="utf-8",
    )
    queue = f"t-{uuid.uuid4().hex[:8]}"
    ran = _cli(tmp_path, "run", str(bad), "--id", f"f-{queue}", "--address", address,
               "--task-queue", queue)  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    assert f"run f-{queue} failed: " in ran.stderr
    assert "`blocked.invalid` is not allowed for http actions" in ran.stderr.splitlines()[-1]
    assert "✗ boom failed" in ran.stderr
    assert ran.stdout == ""
    quiet = _cli(tmp_path, "run", str(bad), "--quiet", "--id", f"q-{queue}", "--address", address,
                 "--task-queue", queue)  # fmt: skip
    assert quiet.returncode == 1
    assert quiet.stderr.startswith(f"run q-{queue} failed: ")  # --quiet never hides the failure
    again = _cli(tmp_path, "result", f"f-{queue}", "--address", address)
    assert again.returncode == 1
    assert f"run f-{queue} failed: " in again.stderr
    assert "`blocked.invalid` is not allowed for http actions" in again.stderr.splitlines()[-1]


# --- 4. Ctrl-C on run -----------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_ctrl_c_on_run_lets_the_step_in_flight_finish_and_says_how_to_reattach(
    tmp_path: Path, address: str, client: Client, task_queue: str, worker_for: Any,
    slow_hook: SlowHook,
) -> None:  # fmt: skip
    flow = _slow_workflow(tmp_path, slow_hook)
    run_id = f"ctrl-c-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [*CLI, "run", str(flow), "--id", run_id, "--address", address, "--task-queue", task_queue],
        cwd=ROOT, env=_env(tmp_path, LLM_ORCHESTRATOR_HTTP_ALLOW=slow_hook.allow),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert await asyncio.to_thread(slow_hook.arrived.wait, 60)
        process.send_signal(signal.SIGINT)  # Ctrl-C while the POST is in flight
        _, stderr = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "steps in flight get up to 30 s to finish" in stderr
    assert f"`llm-orchestrator result {run_id} --address {address}`" in stderr
    # the attempt in flight finished during the grace period: a new worker completes the
    # run without a second POST and without a failed attempt
    async with worker_for():
        handle = client.get_workflow_handle(run_id, result_type=RunResult)
        result = await asyncio.wait_for(handle.result(), timeout=60)
        # the result has each step's status; its attempts come from the progress query
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert result.status["post"] == "completed"
    assert progress.steps["post"].attempts == 1
    assert slow_hook.posts == ["/hook"]


@pytest.mark.skipif(port_open("127.0.0.1", 7233), reason="something already listens on 7233")
def test_ctrl_c_on_run_with_the_embedded_server_says_the_run_is_paused(
    tmp_path: Path, slow_hook: SlowHook
) -> None:
    flow = _slow_workflow(tmp_path, slow_hook)
    process = subprocess.Popen(
        [*CLI, "run", str(flow), "--id", "paused-run"],
        cwd=ROOT, env=_env(tmp_path, LLM_ORCHESTRATOR_HTTP_ALLOW=slow_hook.allow),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert slow_hook.arrived.wait(120)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "run paused-run is paused with the embedded Temporal server" in stderr
    assert "`llm-orchestrator server` in one terminal, `llm-orchestrator worker` in another, " \
           "then `llm-orchestrator result paused-run`" in stderr  # fmt: skip
    assert "Traceback" not in stderr
    assert not port_open("127.0.0.1", 7233)


# --- 5. duplicate --id ----------------------------------------------------------------------------


def test_a_duplicate_id_of_a_running_run_is_one_clear_line(tmp_path: Path, address: str) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    argv = ("start", SENTIMENT, "-i", "text=hi", "--id", f"dup-{queue}", "--address", address,
            "--task-queue", queue)  # fmt: skip
    assert _cli(tmp_path, *argv).returncode == 0
    again = _cli(tmp_path, *argv)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"error: a run with id dup-{queue} is already running; use `llm-orchestrator status "
        f"dup-{queue}` or `llm-orchestrator result dup-{queue}`, or another --id"
    ]


# --- exit code 3 and 6. no abort at exit ----------------------------------------------------------


# 30 processes of ~1.2 s CPU each: about 20 s on a quiet 2-core machine, minutes on a busy one
@pytest.mark.timeout(600)
def test_an_unreachable_server_is_exit_3_and_never_an_abort(tmp_path: Path) -> None:
    """30 `start`s against a dead address, 6 at a time: all exit 3, none aborts (134)."""
    env = _env(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:9")

    def start() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "start", SENTIMENT, "-i", "text=hi"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    # always 6 in flight (not batches of 6 that wait for their slowest): the same pressure
    # on the exit path, no idle cores
    with ThreadPoolExecutor(max_workers=6) as pool:
        ended = list(pool.map(lambda _: start(), range(30)))
    codes = [process.returncode for process in ended]
    errors = [process.stderr for process in ended]
    assert codes == [3] * 30, [e for e in errors if "Fatal" in e][:1]
    assert all("cannot connect to Temporal at 127.0.0.1:9" in e for e in errors)


@pytest.mark.asyncio(loop_scope="session")
async def test_status_says_which_signal_a_run_waits_for(
    tmp_path: Path, address: str, client: Client, task_queue: str, worker_for: Any
) -> None:
    flow = tmp_path / "waits.yaml"
    flow.write_text(
        "name: waits\nsteps:\n  - id: hold\n    type: wait\n    signal: go\n    timeout: 1h\n",
        encoding="utf-8",
    )
    run_id = f"waits-{uuid.uuid4().hex[:8]}"
    async with worker_for():
        started = await _cli_async(tmp_path, "start", str(flow), "--id", run_id,
                                   "--address", address, "--task-queue", task_queue)  # fmt: skip
        assert started.returncode == 0, started.stderr
        handle = client.get_workflow_handle(run_id)
        for _ in range(100):  # until the step has started waiting
            status = await _cli_async(tmp_path, "status", run_id, "--address", address)
            if "signal `go`" in status.stdout:
                break
            await asyncio.sleep(0.1)
        assert "waits for   signal `go` for step hold (times out after 3600 s)" in status.stdout
        await handle.cancel()

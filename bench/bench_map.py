"""Measure a large `map` and a long `loop` end to end on a fresh, tuned dev server.

    python bench/bench_map.py [--items 10000] [--iterations 500] [--quick] [--port 17300]

Starts its own `temporal server start-dev` (headless, loopback, SQLite in a temp dir,
``TUNING_ARGS``) and one worker *process* (``python worker.py``, as deployed) whose peak
RSS (``VmHWM``) is read just before it is stopped; both share a payload store in the temp
dir. Then, one after the other:

* map: ``--items`` items given as a workflow input (``{"text": "a<i>"}`` each), one
  template-only ``transform`` step per item (``max_concurrency: 50``); the output is checked
  item by item;
* loop: ``--iterations`` iterations of a one-``transform`` body, no ``until``.

For each: wall time (client start -> result), the parent's history (events, and bytes as
Temporal counts them: the serialized events), the child runs' histories (count, events and
bytes: largest and total) and what the run added to the payload store. ``--quick`` runs
120 items and 5 iterations (the smoke test in ``tests/test_bench_map.py``). Prints a
Markdown section; the figures live in ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402

from interpreter.contract import WORKFLOW_TYPE, RunResult  # noqa: E402
from llm_orchestrator.connect import connect  # noqa: E402
from llm_orchestrator.devserver import DevServer, port_open  # noqa: E402
from llm_orchestrator.payload_store import STORE_ENV  # noqa: E402

MAP: dict[str, Any] = {
    "name": "bench-map",
    "inputs": {"articles": {"type": "array"}},
    "steps": [
        {
            "id": "shout",
            "type": "map",
            "items": "{{ inputs.articles }}",
            "as": "article",
            "max_concurrency": 50,
            "step": {"type": "transform", "template": "{{ index }} {{ article.text | upper }}"},
        }
    ],
    "outputs": {"count": "{{ steps.shout.output | length }}"},
}


def _loop(iterations: int) -> dict[str, Any]:
    return {
        "name": "bench-loop",
        "steps": [
            {
                "id": "repeat",
                "type": "loop",
                "max_iterations": iterations,
                "steps": [{"id": "tick", "type": "transform", "template": "{{ loop.index }}"}],
            }
        ],
    }


@dataclass
class History:
    events: int
    bytes: int


@dataclass
class Figures:
    wall_s: float
    parent: History
    children: list[History]
    stored: int = 0
    """Bytes the run added to the payload store (values over the 32 KiB threshold)."""


async def _history(handle: WorkflowHandle[Any, Any]) -> tuple[History, list[str]]:
    """The run's history size and the ids of the child runs it started."""
    history = await handle.fetch_history()
    children = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    size = sum(e.ByteSize() for e in history.events)  # what Temporal's 50 MB limit counts
    return History(len(history.events), size), children


def _stored(store: Path) -> int:
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file())


async def _measure(
    client: Client, task_queue: str, run: dict[str, Any], store: Path
) -> tuple[Figures, Any]:
    before = _stored(store)
    started = time.perf_counter()
    handle = await client.start_workflow(
        WORKFLOW_TYPE,
        run,
        id=f"bench-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        result_type=RunResult,
    )
    result: RunResult = await handle.result()
    wall = time.perf_counter() - started
    parent, child_ids = await _history(handle)
    children = [(await _history(client.get_workflow_handle(c)))[0] for c in child_ids]
    return Figures(wall, parent, children, _stored(store) - before), result


def _worker(address: str, task_queue: str, state: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(XDG_STATE_HOME=str(state), PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "worker.py", "--address", address, "--task-queue", task_queue],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/PID/status")


def _free_port(start: int) -> int:
    for port in range(start, start + 200):
        if not port_open("127.0.0.1", port):
            return port
    raise RuntimeError(f"no free port in {start}..{start + 199}")


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.2f} MB"


def _report(items: int, iterations: int, mapped: Figures, looped: Figures, rss: float) -> str:
    children = mapped.children
    largest = max(children, key=lambda h: h.bytes)
    load = os.getloadavg()
    return "\n".join(
        [
            f"## Large map and long loop\n\nMeasured by `python bench/bench_map.py --items "
            f"{items} --iterations {iterations}` on {os.cpu_count()} CPUs "
            f"({platform.machine()}) shared with other work (load average "
            f"{load[0]:.1f} at the end), Python {platform.python_version()}, a fresh tuned "
            "dev server (SQLite, WAL) and one worker process.\n",
            "| Run | Wall time | Parent history | Child runs | Largest child history | "
            "All child histories | Payload store |",
            "|---|---|---|---|---|---|---|",
            f"| map of {items:,} `transform` items | {mapped.wall_s:.1f} s | "
            f"{mapped.parent.events:,} events, {_mb(mapped.parent.bytes)} | {len(children)} | "
            f"{largest.events:,} events, {_mb(largest.bytes)} | "
            f"{sum(h.events for h in children):,} events, "
            f"{_mb(sum(h.bytes for h in children))} | {_mb(mapped.stored)} |",
            f"| loop of {iterations:,} iterations (one `transform`) | {looped.wall_s:.1f} s | "
            f"{looped.parent.events:,} events, {_mb(looped.parent.bytes)} | "
            f"{len(looped.children)} | "
            f"{max(h.events for h in looped.children):,} events | "
            f"{sum(h.events for h in looped.children):,} events, "
            f"{_mb(sum(h.bytes for h in looped.children))} | {_mb(looped.stored)} |",
            "",
            f"Worker peak RSS (VmHWM) over both runs: {rss:.0f} MiB.",
        ]
    )


async def _main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        workdir = Path(tmp)
        store = workdir / "payloads"
        os.environ[STORE_ENV] = str(store)  # the client's and the worker's
        server = DevServer(port=_free_port(args.port), ui_port=None, db_file=workdir / "t.db")
        server.start(log=workdir / "server.log")
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        worker = _worker(server.address, task_queue, workdir / "state")
        try:
            client = await connect(server.address, wait=30)
            articles = [{"text": f"a{i}"} for i in range(args.items)]
            mapped, result = await _measure(
                client,
                task_queue,
                {"definition": MAP, "inputs": {"articles": articles}, "records": True},
                store,
            )
            output = result.steps["shout"].output
            if output != [f"{i} A{i}" for i in range(args.items)]:
                raise RuntimeError("the map's output is wrong")
            print(f"map: {mapped.wall_s:.1f} s", file=sys.stderr)
            looped, result = await _measure(
                client,
                task_queue,
                {"definition": _loop(args.iterations), "inputs": {}, "records": True},
                store,
            )
            if result.steps["repeat"].output != {
                "iterations": args.iterations,
                "last": {"tick": args.iterations - 1},
            }:
                raise RuntimeError(f"the loop's output is wrong: {result.steps['repeat'].output}")
            print(f"loop: {looped.wall_s:.1f} s", file=sys.stderr)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with code {worker.returncode}")
            rss = _peak_rss_mib(worker.pid)
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(10)
            server.stop()
    print(_report(args.items, args.iterations, mapped, looped, rss))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="120 items, 5 iterations")
    parser.add_argument("--port", type=int, default=17300)
    args = parser.parse_args()
    if args.quick:
        args.items, args.iterations = 120, 5
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())

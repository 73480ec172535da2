"""Benchmark how fast things start: runs, the embedded dev server, the CLI itself.

    python bench/bench_startup.py [--section runs,devserver,cli] [--runs 30] [--rounds 5]

* ``runs``: one tuned dev server (headless, a fresh SQLite file) and one in-process
  worker on the same client, as ``llm-orchestrator run`` has them. A 3-step chain of
  template-only ``transform`` steps is started ``--runs`` times in each mode,
  interleaved: by definition with and without eager workflow start, and by catalog
  name (the ``resolve_workflow`` activity first), eager. p50/p95 of start -> result.
* ``devserver``: ``--rounds`` fresh dev servers per configuration, interleaved: the
  time from spawning the process to the first accepted TCP connection and to a
  healthy frontend serving the ``default`` namespace (polled every 5 ms), and the
  time `run`'s own readiness path takes (``DevServer.start``, ``connect``,
  ``wait_until_serving``).
* ``cli``: wall time of ``llm-orchestrator --help`` and ``validate`` on a small
  file, best and median of ``--rounds`` (CPU time too), and the largest cumulative
  entries of ``python -X importtime`` for each. The tree's bytecode is compiled first,
  as an install has it: with ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__``,
  every start would recompile what it imports and measure that instead.

Prints Markdown; the figures live in docs/performance.md ("Start-up") and
docs/embedded-server.md.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402

from activities import ActivitySettings  # noqa: E402
from interpreter.contract import WORKFLOW_TYPE, RunInput, RunResult  # noqa: E402
from llm_orchestrator.connect import connect, wait_until_serving  # noqa: E402
from llm_orchestrator.devserver import TUNING_ARGS, DevServer, find_binary, port_open  # noqa: E402
from llm_orchestrator.worker import run_worker  # noqa: E402

CHAIN = """\
name: bench-chain
version: "1.0"
steps:
  - {id: s1, type: transform, template: "a"}
  - {id: s2, type: transform, template: "{{ steps.s1.output }}b", depends_on: [s1]}
  - {id: s3, type: transform, template: "{{ steps.s2.output }}c", depends_on: [s2]}
outputs:
  text: "{{ steps.s3.output }}"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- runs -------------------------------------------------------------------------------


async def bench_runs(runs: int) -> None:
    import yaml

    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    (workdir / "catalog").mkdir()
    (workdir / "catalog" / "bench-chain.yaml").write_text(CHAIN, encoding="utf-8")
    definition = yaml.safe_load(CHAIN)
    server = DevServer(port=_free_port(), ui_port=None, db_file=workdir / "t.db").start()
    try:
        client = await connect(server.address, wait=30)
        await wait_until_serving(client)
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        stop, ready = asyncio.Event(), asyncio.Event()
        settings = ActivitySettings(catalog_dir=workdir / "catalog")
        worker = asyncio.create_task(
            run_worker(client, settings, task_queue=queue, stop=stop, ready=ready)
        )
        await ready.wait()
        modes: dict[str, tuple[RunInput, bool]] = {
            "definition, not eager": (RunInput(definition=definition), False),
            "definition, eager": (RunInput(definition=definition), True),
            "catalog name (resolve activity), eager": (RunInput(workflow="bench-chain"), True),
        }
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        eager_seen: dict[str, int] = dict.fromkeys(modes, 0)
        for i in range(5 + runs):  # 5 warm-up rounds
            for mode, (request, eager) in modes.items():
                t0 = time.perf_counter()
                handle = await client.start_workflow(
                    WORKFLOW_TYPE, request, id=f"b-{uuid.uuid4().hex}", task_queue=queue,
                    result_type=RunResult, request_eager_start=eager,
                )  # fmt: skip
                await handle.result()
                if i >= 5:
                    times[mode].append((time.perf_counter() - t0) * 1000)
                    eager_seen[mode] += bool(getattr(handle, "__temporal_eagerly_started", False))
        stop.set()
        await worker
    finally:
        server.stop()
    print(f"\n### Runs: start -> result, {runs} runs per mode, interleaved\n")
    print("| mode | p50 ms | p95 ms | started eagerly |")
    print("|---|---:|---:|---:|")
    for mode, values in times.items():
        print(f"| {mode} | {statistics.median(values):.1f} | {_pct(values, 0.95):.1f} "
              f"| {eager_seen[mode]}/{runs} |")  # fmt: skip


# --- devserver ----------------------------------------------------------------------------


async def _until(check: Callable[[], Awaitable[bool]], every: float = 0.005) -> None:
    while True:
        try:
            if await check():
                return
        except Exception:  # not up yet
            pass
        await asyncio.sleep(every)


async def _intrinsic(kind: str) -> tuple[float, float]:
    port, d = _free_port(), tempfile.mkdtemp(prefix="bench-dev-")
    args = [find_binary(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
            "--log-level", "error", *TUNING_ARGS]  # fmt: skip
    if kind != "in-memory, headless":
        args += ["--db-filename", f"{d}/t.db"]
    if kind == "file, Web UI (as `run`)":
        args += ["--ui-port", str(_free_port()), "--ui-ip", "127.0.0.1"]
    else:
        args.append("--headless")
    t0 = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        async def listening() -> bool:
            return port_open("127.0.0.1", port, 0.2)

        await _until(listening)
        t_listen = time.perf_counter() - t0
        client = await _connected(f"127.0.0.1:{port}")

        async def serving() -> bool:
            if not await client.service_client.check_health():
                return False
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="default")
            )
            return True

        await _until(serving)
        return t_listen * 1000, (time.perf_counter() - t0) * 1000
    finally:
        process.terminate()
        process.wait()


async def _connected(address: str) -> Client:
    while True:
        try:
            return await Client.connect(address)
        except Exception:
            await asyncio.sleep(0.005)


async def _run_path() -> float:
    """What `run` waits for before it can start a worker: as the code of this tree does it."""
    fast = {"retry_every": 0.02} if "retry_every" in inspect.signature(connect).parameters else {}
    t0 = time.perf_counter()
    server = DevServer(
        port=_free_port(), ui_port=_free_port(), db_file=Path(tempfile.mkdtemp()) / "t.db"
    ).start()
    try:
        client = await connect(server.address, wait=30, **fast)  # type: ignore[arg-type]
        await wait_until_serving(client)
        return (time.perf_counter() - t0) * 1000
    finally:
        server.stop()


async def bench_devserver(rounds: int) -> None:
    kinds = ("file, Web UI (as `run`)", "file, headless", "in-memory, headless")
    found: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    path: list[float] = []
    for _ in range(rounds):
        for kind in kinds:
            found[kind].append(await _intrinsic(kind))
        path.append(await _run_path())
    print(f"\n### Dev server start-up, median of {rounds} (min-max)\n")
    print("| configuration | first accepted connection ms | serving `default` ms |")
    print("|---|---:|---:|")
    for kind, values in found.items():
        a, b = [v[0] for v in values], [v[1] for v in values]
        print(f"| {kind} | {statistics.median(a):.0f} ({min(a):.0f}-{max(a):.0f}) "
              f"| {statistics.median(b):.0f} ({min(b):.0f}-{max(b):.0f}) |")  # fmt: skip
    print(f"\n`run`'s readiness path (this tree's code): median {statistics.median(path):.0f} ms "
          f"({min(path):.0f}-{max(path):.0f})")  # fmt: skip


# --- cli ----------------------------------------------------------------------------------


def bench_cli(rounds: int) -> None:
    small = str(ROOT / "examples" / "sentiment-analysis.yaml")
    commands = {"--help": ["--help"], "validate": ["validate", small]}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    packages = [str(ROOT / p) for p in ("interpreter", "llm_orchestrator", "activities")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"\n### CLI, {rounds} runs each (tree {ROOT})\n")
    print("| command | wall best ms | wall median ms | CPU best ms | CPU median ms |")
    print("|---|---:|---:|---:|---:|")
    for name, argv in commands.items():
        cmd = [sys.executable, "-m", "llm_orchestrator", *argv]
        walls, cpus = [], []
        for _ in range(rounds):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
            walls.append((time.perf_counter() - t0) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(
                (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
            )
        print(f"| `{name}` | {min(walls):.0f} | {statistics.median(walls):.0f} | {min(cpus):.0f} "
              f"| {statistics.median(cpus):.0f} |")  # fmt: skip
    for argv in commands.values():
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "llm_orchestrator", *argv],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        rows: list[tuple[int, str]] = []
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            _, _self, cumulative_us, module = (
                part.strip() for part in line.replace("import time:", "|").split("|")
            )
            rows.append((int(cumulative_us), module))
        rows.sort(reverse=True)
        print(f"\n`python -X importtime -m llm_orchestrator {' '.join(argv[:1])}`, top 12 "
              "cumulative (ms):\n\n```")  # fmt: skip
        for micros, name in rows[:12]:
            print(f"{micros / 1000:8.1f}  {name}")
        print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", default="runs,devserver,cli")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sections = args.section.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} at the start, {os.cpu_count()} CPUs")
    if "cli" in sections:
        bench_cli(args.rounds)
    if "devserver" in sections:
        asyncio.run(bench_devserver(args.rounds))
    if "runs" in sections:
        asyncio.run(bench_runs(args.runs))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

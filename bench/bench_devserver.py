"""Benchmark the embedded Temporal dev server's tuning options with our real `DagWorkflow`.

    python bench/bench_devserver.py [--rounds 1] [--runs 40] [--concurrent 200]
                                    [--in-flight 50] [--port 17233] [--only 1,4,5]

For each configuration: a fresh `temporal server start-dev` (headless, loopback,
a fresh SQLite file in a temp dir) and one in-process worker (``build_worker``,
as ``llm-orchestrator run`` uses it), then

* latency: a 3-step sequential workflow (three template-only ``transform``
  steps), 5 warm-up runs, then ``--runs`` sequential runs; p50/p95 of client
  start -> result;
* throughput: ``--concurrent`` such runs started at once, at most
  ``--in-flight`` outstanding (a semaphore); runs/s and step activities/s.

With ``--rounds N`` the configurations are run N times, interleaved, and the
median of each figure is reported (useful when the machine is shared).
Prints a Markdown table; the figures and the decision live in
``docs/embedded-server.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import platform
import statistics
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

from activities import ActivitySettings, WorkerActivities  # noqa: E402
from interpreter.contract import WORKFLOW_TYPE, RunResult  # noqa: E402
from llm_orchestrator.connect import connect  # noqa: E402
from llm_orchestrator.devserver import TUNING_ARGS, DevServer, find_binary, port_open  # noqa: E402
from llm_orchestrator.worker import build_worker  # noqa: E402

# --- configurations ------------------------------------------------------------------

POLL = (
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=1000",
)  # fmt: skip
WAL_NORMAL = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=1")
WAL_FULL = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=2")


@dataclass(frozen=True)
class Config:
    number: int
    label: str
    args: tuple[str, ...]
    wal: bool


CONFIGS = (
    Config(1, "dev-server defaults (rollback journal, 20 polls/s)", (), False),
    Config(2, "poll rates 1000/s only", POLL, False),
    Config(3, "WAL + synchronous=NORMAL only", WAL_NORMAL, True),
    Config(4, "`TUNING_ARGS`: WAL + synchronous=NORMAL + poll rates", tuple(TUNING_ARGS), True),
    Config(5, "WAL + synchronous=FULL + poll rates", WAL_FULL + POLL, True),
)

STEPS = 3
DEFINITION: dict[str, Any] = {
    "name": "bench-chain",
    "version": "1.0",
    "inputs": {"text": {"type": "string"}},
    "steps": [
        {"id": "a", "type": "transform", "template": "{{ inputs.text | upper }}", "output": ["v"]},
        {
            "id": "b",
            "type": "transform",
            "depends_on": ["a"],
            "template": "{{ steps.a.v }}!",
            "output": ["v"],
        },
        {
            "id": "c",
            "type": "transform",
            "depends_on": ["b"],
            "template": "{{ steps.b.v | length }}",
            "output": ["v"],
        },
    ],
    "outputs": {"result": "{{ steps.c.v }}"},
}


# --- measuring -----------------------------------------------------------------------


@dataclass
class Figures:
    p50_ms: float
    p95_ms: float
    runs_per_s: float
    activities_per_s: float
    wal_seen: bool


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def _one_run(client: Any, task_queue: str, n: int) -> float:
    started = time.perf_counter()
    handle = await client.start_workflow(
        WORKFLOW_TYPE,
        {"definition": DEFINITION, "inputs": {"text": f"hello {n}"}},
        id=f"bench-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        result_type=RunResult,
    )
    result: RunResult = await asyncio.wait_for(handle.result(), timeout=120)
    elapsed = time.perf_counter() - started
    if str(result.outputs.get("result")) != str(len(f"HELLO {n}!")):
        raise RuntimeError(f"unexpected result: {result.outputs!r}")
    return elapsed


async def _connect(address: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        try:
            return await connect(address)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _measure(config: Config, port: int, args: argparse.Namespace, workdir: Path) -> Figures:
    db = workdir / "temporal.db"
    log = workdir / "server.log"
    server = DevServer(port=port, ui_port=None, db_file=db, tuned=False, extra_args=config.args)
    server.start(log=log)
    activities = WorkerActivities(ActivitySettings(catalog_dir=ROOT / "examples"))
    try:
        client = await _connect(server.address)
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with build_worker(client, activities, task_queue=task_queue):
            for n in range(args.warmup):
                await _one_run(client, task_queue, n)
            latencies = [await _one_run(client, task_queue, n) * 1000 for n in range(args.runs)]
            wal_seen = Path(f"{db}-wal").exists()

            gate = asyncio.Semaphore(args.in_flight)

            async def bounded(n: int) -> float:
                async with gate:
                    return await _one_run(client, task_queue, n)

            started = time.perf_counter()
            await asyncio.gather(*(bounded(n) for n in range(args.concurrent)))
            elapsed = time.perf_counter() - started
    finally:
        await activities.aclose()
        server.stop()
    runs_per_s = args.concurrent / elapsed
    return Figures(
        p50_ms=statistics.median(latencies),
        p95_ms=_percentile(latencies, 0.95),
        runs_per_s=runs_per_s,
        activities_per_s=runs_per_s * STEPS,
        wal_seen=wal_seen,
    )


def _free_port(start: int) -> int:
    for port in range(start, start + 200):
        if not port_open("127.0.0.1", port):
            return port
    raise RuntimeError(f"no free port in {start}..{start + 199}")


# --- report --------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _filesystem(path: Path) -> str:
    try:
        return (
            subprocess.run(
                ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or "unknown"
        )
    except Exception:  # pragma: no cover - informational only
        return "unknown"


def _fsync_ms(path: Path, count: int = 50) -> float:
    """Median time of a 4 KiB append + fsync in ``path`` (what a durable commit waits for)."""
    times: list[float] = []
    fd, name = tempfile.mkstemp(dir=path, prefix="fsync-probe-")
    try:
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        os.unlink(name)
    return statistics.median(times)


def _temporal_version() -> str:
    try:
        out = subprocess.run(
            [find_binary(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except Exception as exc:  # pragma: no cover - informational only
        return f"unknown ({exc})"
    return out.strip()


def _table(results: dict[int, list[Figures]]) -> str:
    lines = [
        "| # | configuration | p50 ms | p95 ms | runs/s | activities/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for config in CONFIGS:
        rounds = results.get(config.number)
        if not rounds:
            continue
        p50 = statistics.median(f.p50_ms for f in rounds)
        p95 = statistics.median(f.p95_ms for f in rounds)
        rps = statistics.median(f.runs_per_s for f in rounds)
        aps = statistics.median(f.activities_per_s for f in rounds)
        lines.append(
            f"| {config.number} | {config.label} | {p50:.1f} | {p95:.1f} | {rps:.1f} | {aps:.0f} |"
        )
    return "\n".join(lines)


def _comparison(results: dict[int, list[Figures]]) -> str | None:
    if not (results.get(4) and results.get(5)):
        return None
    normal, full = results[4], results[5]
    p50 = statistics.median(f.p50_ms for f in full) / statistics.median(f.p50_ms for f in normal)
    rps = statistics.median(f.runs_per_s for f in full) / statistics.median(
        f.runs_per_s for f in normal
    )
    return (
        f"synchronous=FULL vs NORMAL (config 5 vs 4): p50 latency x{p50:.2f} "
        f"({(p50 - 1) * 100:+.0f}%), throughput x{rps:.2f} ({(rps - 1) * 100:+.0f}%)"
    )


async def _main(args: argparse.Namespace) -> int:
    chosen = [c for c in CONFIGS if not args.only or c.number in args.only]
    results: dict[int, list[Figures]] = {}
    base = Path(args.dir or tempfile.gettempdir())
    fsync_ms = _fsync_ms(base)
    load_before = os.getloadavg()
    started = time.monotonic()
    for round_no in range(1, args.rounds + 1):
        for config in chosen:
            port = _free_port(args.port)
            with tempfile.TemporaryDirectory(prefix="bench-devserver-", dir=args.dir) as tmp:
                figures = await _measure(config, port, args, Path(tmp))
            if config.wal != figures.wal_seen:
                raise RuntimeError(
                    f"config {config.number}: expected WAL={config.wal}, saw {figures.wal_seen}"
                )
            results.setdefault(config.number, []).append(figures)
            print(
                f"round {round_no} config {config.number}: p50 {figures.p50_ms:.1f} ms, "
                f"p95 {figures.p95_ms:.1f} ms, {figures.runs_per_s:.1f} runs/s",
                file=sys.stderr,
                flush=True,
            )
    load_after = os.getloadavg()
    print(
        f"Dev server ({_temporal_version()}), {dt.date.today().isoformat()}, {_machine()}; "
        f"{STEPS}-step transform chain; latency: {args.warmup} warm-up + {args.runs} "
        f"sequential runs; throughput: {args.concurrent} runs, {args.in_flight} in flight; "
        f"median of {args.rounds} round(s); load average before/after "
        f"{load_before[0]:.2f}/{load_after[0]:.2f}; took {time.monotonic() - started:.0f} s.\n"
        f"SQLite files in {base} ({_filesystem(base)}; a 4 KiB append + fsync takes "
        f"{fsync_ms:.2f} ms there).\n"
    )
    print(_table(results))
    comparison = _comparison(results)
    if comparison:
        print(f"\n{comparison}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--port", type=int, default=17233, help="first port to try")
    parser.add_argument(
        "--dir",
        default=None,
        help="where the temporary SQLite files go (default: the system temp dir); use the "
        "disk of the real state dir, not a tmpfs, or fsync costs vanish",
    )
    parser.add_argument(
        "--only",
        type=lambda s: {int(x) for x in s.split(",")},
        default=None,
        help="comma-separated configuration numbers (1-5)",
    )
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

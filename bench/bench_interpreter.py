"""`DagWorkflow` against hand-written Temporal workflows: same server, activities, arguments.

    python bench/bench_interpreter.py [--quick] [--rounds N] [--json PATH] [size options]

Starts one tuned dev server (``TUNING_ARGS``, SQLite in a temp dir, an ephemeral port on
127.0.0.1) and one worker *process* (``bench/bench_worker.py``) that runs `DagWorkflow` as
``llm-orchestrator worker`` builds it and the hand-written equivalents of
``bench/handwritten.py`` (default sandbox) on two task queues, with the same activities.
Its CPU time (user + sys, from psutil or ``/proc/PID/stat``) divided by the runs is the
worker CPU per run. Everything runs offline (the offline model provider, custom no-op and
sleeping activities on the worker).

First each scenario runs once per side to check the two are equivalent: every activity
`DagWorkflow` schedules must be scheduled by the hand-written run with the same input,
timeouts and retry policy, and the outputs must be equal; the histories of these runs give
the events, activity tasks and workflow tasks per run. Then, over ``--rounds`` rounds, each
scenario runs on one side, then the other (the order alternates per round):

* ``chain3``: three no-op activities in a row, ``--runs`` sequential runs (p50/p95), then
  ``--concurrent`` runs at most ``--in-flight`` (50) at a time (runs/s, worker CPU per run);
* ``fanout20`` / ``fanout100``: 20 and 100 activities of 200 ms at once, ``--fanout-runs``;
* the example pipelines offline (sentiment-analysis, content-moderation, rag-pipeline) and
  ``bench/transforms-pipeline.yaml`` (3 transforms between 2 model steps),
  ``--pipeline-runs`` sequential runs each.

Last, for each side in a fresh worker process with ``--cache`` as its
``max_cached_workflows`` (full: 1000): ``--waiting`` runs started that wait for a signal (a
`wait` step; the hand-written run waits on a signal handler), the worker's RSS once they all
wait, then every run released and awaited. ``--only ab`` / ``--only waiting`` runs one part;
``--scenario NAME`` (repeatable) limits the A/B part to some scenarios, ``--waiting-side SIDE``
the waiting part to one side (10,000 waiting runs per side take most of an hour here).
Figures are medians over the rounds; ratios are interpreter / hand-written. Prints a
Markdown table and writes everything, with the machine's load, to ``--json``;
docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from google.protobuf.json_format import MessageToDict  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowHandle, WorkflowHistory  # noqa: E402

from interpreter.contract import WORKFLOW_TYPE, RunResult  # noqa: E402
from llm_orchestrator.connect import connect  # noqa: E402
from llm_orchestrator.devserver import DevServer, find_binary  # noqa: E402
from llm_orchestrator.payload_store import STORE_ENV  # noqa: E402

INTERPRETER, HANDWRITTEN = "interpreter", "handwritten"
SIDES = (INTERPRETER, HANDWRITTEN)
EXAMPLES = ROOT / "examples"
RESULT_TIMEOUT = 300.0

# --- what runs -------------------------------------------------------------------------


def _chain() -> dict[str, Any]:
    def echo(step_id: str, text: str, after: str | None) -> dict[str, Any]:
        step: dict[str, Any] = {"id": step_id, "type": "action", "action": "bench_echo"}
        step["params"] = {"text": text}
        if after:
            step["depends_on"] = [after]
        return step

    return {
        "name": "chain3",
        "version": "1.0",
        "inputs": {"text": {"type": "string"}},
        "steps": [
            echo("a", "{{ inputs.text }}", None),
            echo("b", "{{ steps.a.output.text }}!", "a"),
            echo("c", "{{ steps.b.output.text | upper }}", "b"),
        ],
        "outputs": {"result": "{{ steps.c.output.text }}"},
    }


def _fanout(width: int, ms: int) -> dict[str, Any]:
    return {
        "name": f"fanout{width}",
        "version": "1.0",
        "steps": [
            {"id": f"s{i}", "type": "action", "action": "bench_sleep", "params": {"ms": ms, "i": i}}
            for i in range(width)
        ],
        "outputs": {"count": str(width)},
    }


WAITING: dict[str, Any] = {
    "name": "waiting",
    "version": "1.0",
    "steps": [{"id": "hold", "type": "wait", "signal": "release"}],
    "outputs": {"released": "{{ steps.hold.output }}"},
}


def _file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def _example_inputs(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.input.json").read_text())  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Scenario:
    """One kind of run, as a `DagWorkflow` start input and as a hand-written workflow's."""

    name: str
    definition: dict[str, Any]
    hand_type: str
    inputs: Callable[[int], dict[str, Any]]
    """The run's inputs (run number → inputs)."""
    same_outputs: bool = True
    """The hand-written run returns what the definition's ``outputs`` render."""

    def start_args(self, side: str, n: int) -> tuple[str, Any]:
        if side == INTERPRETER:
            request = {"definition": self.definition, "inputs": self.inputs(n), "offline": True}
            return WORKFLOW_TYPE, request
        return self.hand_type, {**self.inputs(n), "offline": True}


def _scenarios(ms: int) -> dict[str, Scenario]:
    def fixed(values: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
        return lambda n: values

    scenarios = [
        Scenario("chain3", _chain(), "HandChain", lambda n: {"text": f"hello {n}"}),
        Scenario("fanout20", _fanout(20, ms), "HandFanOut", fixed({"width": 20, "ms": ms}), False),
        Scenario(
            "fanout100", _fanout(100, ms), "HandFanOut", fixed({"width": 100, "ms": ms}), False
        ),
        Scenario(
            "sentiment-analysis",
            _file(EXAMPLES / "sentiment-analysis.yaml"),
            "HandSentiment",
            fixed(_example_inputs("sentiment-analysis")),
        ),
        Scenario(
            "content-moderation",
            _file(EXAMPLES / "content-moderation.yaml"),
            "HandModeration",
            fixed(_example_inputs("content-moderation")),
        ),
        Scenario(
            "rag-pipeline",
            _file(EXAMPLES / "rag-pipeline.yaml"),
            "HandRag",
            fixed(_example_inputs("rag-pipeline")),
        ),
        Scenario(
            "transforms-pipeline",
            _file(ROOT / "bench" / "transforms-pipeline.yaml"),
            "HandTransforms",
            fixed({"text": "I cannot log in, and the export fails since the login change."}),
        ),
    ]
    return {s.name: s for s in scenarios}


PIPELINES = ("sentiment-analysis", "content-moderation", "rag-pipeline", "transforms-pipeline")

# --- the worker process ----------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mib(pid: int) -> dict[str, float]:
    """Resident memory now (``VmRSS``) and at its peak (``VmHWM``), MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return {"rss_mib": found["VmRSS"], "peak_rss_mib": found["VmHWM"]}


@dataclass
class WorkerProcess:
    """``bench/bench_worker.py`` as a child process of ours (stopped by its PID)."""

    address: str
    queues: dict[str, str]
    max_cached: int
    log: Path
    process: subprocess.Popen[str] | None = None

    async def start(self) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        env["PYTHONPATH"] = str(ROOT)
        self.process = subprocess.Popen(
            [
                sys.executable, str(ROOT / "bench" / "bench_worker.py"),
                "--address", self.address,
                "--dag-queue", self.queues[INTERPRETER],
                "--hand-queue", self.queues[HANDWRITTEN],
                "--max-cached-workflows", str(self.max_cached),
            ],
            cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
            stderr=self.log.open("a"), stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), 120)
        except TimeoutError:
            line = ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the benchmark worker did not start; see {self.log}")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the benchmark worker exited ({self.process.returncode})")
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


# --- running and measuring --------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _outputs(side: str, result: Any) -> Any:
    if side == INTERPRETER:
        assert isinstance(result, RunResult)
        return result.outputs
    return result


@dataclass
class Bench:
    client: Client
    worker: WorkerProcess
    server_pid: int
    scenarios: dict[str, Scenario]

    async def start(self, scenario: Scenario, side: str, n: int) -> WorkflowHandle[Any, Any]:
        workflow_type, arg = scenario.start_args(side, n)
        return await self.client.start_workflow(
            workflow_type,
            arg,
            id=f"{scenario.name}-{side[:4]}-{uuid.uuid4().hex[:10]}",
            task_queue=self.worker.queues[side],
            result_type=RunResult if side == INTERPRETER else None,
        )

    async def run(self, scenario: Scenario, side: str, n: int) -> tuple[float, Any]:
        """One run to its end: (seconds from start to result, its outputs)."""
        started = time.perf_counter()
        handle = await self.start(scenario, side, n)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        return time.perf_counter() - started, _outputs(side, result)

    async def measured(self, runs: int, work: Callable[[], Awaitable[None]]) -> dict[str, float]:
        """Run ``work`` (``runs`` runs); CPU of the worker and of the server per run."""
        worker_cpu = _cpu_seconds(self.worker.pid)
        server_cpu = _cpu_seconds(self.server_pid)
        started = time.perf_counter()
        await work()
        return {
            "wall_s": time.perf_counter() - started,
            "cpu_ms_per_run": (_cpu_seconds(self.worker.pid) - worker_cpu) * 1000 / runs,
            "server_cpu_ms_per_run": (_cpu_seconds(self.server_pid) - server_cpu) * 1000 / runs,
        }

    async def sequential(self, scenario: Scenario, side: str, runs: int) -> dict[str, float]:
        latencies: list[float] = []

        async def work() -> None:
            for n in range(runs):
                latencies.append((await self.run(scenario, side, n))[0] * 1000)

        figures = await self.measured(runs, work)
        return {
            "p50_ms": statistics.median(latencies),
            "p95_ms": _percentile(latencies, 0.95),
            "cpu_ms_per_run": figures["cpu_ms_per_run"],
            "server_cpu_ms_per_run": figures["server_cpu_ms_per_run"],
        }

    async def throughput(
        self, scenario: Scenario, side: str, runs: int, in_flight: int
    ) -> dict[str, float]:
        gate = asyncio.Semaphore(in_flight)

        async def bounded(n: int) -> None:
            async with gate:
                await self.run(scenario, side, n)

        async def work() -> None:
            await asyncio.gather(*(bounded(n) for n in range(runs)))

        figures = await self.measured(runs, work)
        return {
            "runs_per_s": runs / figures["wall_s"],
            "cpu_ms_per_run": figures["cpu_ms_per_run"],
            "server_cpu_ms_per_run": figures["server_cpu_ms_per_run"],
        }


# --- equivalence and histories -------------------------------------------------------------


def _history_figures(history: WorkflowHistory) -> dict[str, int]:
    counts = Counter(e.event_type for e in history.events)
    return {
        "events": len(history.events),
        "bytes": sum(e.ByteSize() for e in history.events),
        "activity_tasks": counts[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        "workflow_tasks": counts[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
        "markers": counts[EventType.EVENT_TYPE_MARKER_RECORDED],
    }


def _without_run_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("workflow_id", "run_id")}
    return value


def _activity_calls(history: WorkflowHistory) -> list[str]:
    """Every scheduled activity: type, input, timeouts and retry policy (canonical JSON)."""
    calls = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        a = event.activity_task_scheduled_event_attributes
        call = {
            "type": a.activity_type.name,
            "input": [_without_run_ids(json.loads(p.data)) for p in a.input.payloads],
            "start_to_close_s": a.start_to_close_timeout.ToTimedelta().total_seconds(),
            "heartbeat_s": a.heartbeat_timeout.ToTimedelta().total_seconds(),
            "retry": MessageToDict(a.retry_policy),
        }
        calls.append(json.dumps(call, sort_keys=True))
    return calls


async def _verify(bench: Bench, scenario: Scenario) -> dict[str, Any]:
    """Run once per side; check equivalence; the histories' figures."""
    outputs: dict[str, Any] = {}
    histories: dict[str, WorkflowHistory] = {}
    for side in SIDES:
        handle = await bench.start(scenario, side, 0)
        outputs[side] = _outputs(side, await asyncio.wait_for(handle.result(), RESULT_TIMEOUT))
        histories[side] = await handle.fetch_history()
    if scenario.same_outputs and outputs[INTERPRETER] != outputs[HANDWRITTEN]:
        raise RuntimeError(
            f"{scenario.name}: the outputs differ:\n  interpreter: {outputs[INTERPRETER]!r}\n"
            f"  hand-written: {outputs[HANDWRITTEN]!r}"
        )
    interpreted = Counter(_activity_calls(histories[INTERPRETER]))
    hand = Counter(_activity_calls(histories[HANDWRITTEN]))
    missing = interpreted - hand
    if missing:
        raise RuntimeError(
            f"{scenario.name}: `DagWorkflow` scheduled activities the hand-written run did not "
            "(type, input, timeouts, retry):\n  "
            + "\n  ".join(missing)
            + "\nthe hand-written run scheduled:\n  "
            + "\n  ".join(hand - interpreted)
        )
    figures: dict[str, Any] = {side: _history_figures(histories[side]) for side in SIDES}
    figures["activity_calls_matched"] = sum(interpreted.values())
    figures["activities_only_handwritten"] = sorted(
        {json.loads(c)["type"] for c in hand - interpreted}
    )
    return figures


# --- waiting runs ---------------------------------------------------------------------------


async def _waiting(
    client: Client, address: str, side: str, args: argparse.Namespace, workdir: Path
) -> dict[str, float]:
    """``args.waiting`` runs parked on a signal in a fresh worker: its memory, then release."""
    scenario = Scenario("waiting", WAITING, "HandWaiter", lambda n: {})
    queues = {s: f"wait-{s[:4]}-{uuid.uuid4().hex[:8]}" for s in SIDES}
    worker = await WorkerProcess(address, queues, args.cache, workdir / "worker.log").start()
    bench = Bench(client, worker, 0, {})
    try:
        idle = _memory_mib(worker.pid)
        gate = asyncio.Semaphore(args.in_flight)

        async def start(n: int) -> WorkflowHandle[Any, Any]:
            async with gate:
                return await bench.start(scenario, side, n)

        started = time.perf_counter()
        cpu = _cpu_seconds(worker.pid)
        handles = await asyncio.gather(*(start(n) for n in range(args.waiting)))
        # workflow tasks go out in order: once the last runs have had theirs, all have
        for handle in handles[-min(20, len(handles)) :]:
            while not await _first_task_done(handle):
                await asyncio.sleep(0.5)
        parked_s = time.perf_counter() - started
        parked_cpu = _cpu_seconds(worker.pid) - cpu
        waiting = _memory_mib(worker.pid)

        async def release(handle: WorkflowHandle[Any, Any]) -> Any:
            # awaiting a result is a long poll: the server allows only so many at once
            async with gate:
                await handle.signal("release", "go")
                return _outputs(side, await asyncio.wait_for(handle.result(), RESULT_TIMEOUT))

        started = time.perf_counter()
        cpu = _cpu_seconds(worker.pid)
        results = await asyncio.gather(*(release(h) for h in handles))
        released_s = time.perf_counter() - started
        released_cpu = _cpu_seconds(worker.pid) - cpu
        completed = sum(1 for r in results if r == {"released": "go"})
        if completed != len(handles):
            raise RuntimeError(f"waiting ({side}): {completed} of {len(handles)} completed")
        end = _memory_mib(worker.pid)
    finally:
        worker.stop()
    return {
        "runs": float(args.waiting),
        "completed": float(completed),
        "idle_rss_mib": idle["rss_mib"],
        "waiting_rss_mib": waiting["rss_mib"],
        "peak_rss_mib": end["peak_rss_mib"],
        "park_s": parked_s,
        "park_cpu_ms_per_run": parked_cpu * 1000 / args.waiting,
        "release_s": released_s,
        "release_cpu_ms_per_run": released_cpu * 1000 / args.waiting,
    }


async def _first_task_done(handle: WorkflowHandle[Any, Any]) -> bool:
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return True
    return False


# --- the whole benchmark ----------------------------------------------------------------


@dataclass
class Results:
    """Per measurement: each side's figures, one dict per round."""

    rounds: dict[str, dict[str, list[dict[str, float]]]] = field(default_factory=dict)

    def add(self, key: str, side: str, figures: dict[str, float]) -> None:
        self.rounds.setdefault(key, {s: [] for s in SIDES})[side].append(figures)

    def medians(self, key: str) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for side, rounds in self.rounds[key].items():
            out[side] = {m: statistics.median(r[m] for r in rounds) for m in rounds[0]}
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


ROWS: list[tuple[str, str, str, str]] = [
    # (row label, measurement key, metric, unit)
    ("3-step chain p50 (sequential)", "chain3", "p50_ms", "ms"),
    ("3-step chain p95 (sequential)", "chain3", "p95_ms", "ms"),
    ("3-step chain throughput, 50 in flight", "chain3@50", "runs_per_s", "runs/s"),
    ("worker CPU per chain run, 50 in flight", "chain3@50", "cpu_ms_per_run", "ms"),
    ("server CPU per chain run, 50 in flight", "chain3@50", "server_cpu_ms_per_run", "ms"),
    ("worker CPU per chain run (sequential)", "chain3", "cpu_ms_per_run", "ms"),
    ("20-way fan-out of 200 ms p50", "fanout20", "p50_ms", "ms"),
    ("worker CPU per 20-way fan-out", "fanout20", "cpu_ms_per_run", "ms"),
    ("100-way fan-out of 200 ms p50", "fanout100", "p50_ms", "ms"),
    ("worker CPU per 100-way fan-out", "fanout100", "cpu_ms_per_run", "ms"),
    *[
        row
        for name in PIPELINES
        for row in (
            (f"{name} p50", name, "p50_ms", "ms"),
            (f"worker CPU per {name} run", name, "cpu_ms_per_run", "ms"),
        )
    ],
]


def _table(summary: dict[str, Any]) -> str:
    lines = [
        "| Measurement | Interpreter | Hand-written | Ratio |",
        "|---|---:|---:|---:|",
    ]
    for row in summary["table"]:
        lines.append(
            f"| {row['measurement']} | {row[INTERPRETER]:,.1f} {row['unit']} | "
            f"{row[HANDWRITTEN]:,.1f} {row['unit']} | {row['ratio']:.2f}× |"
        )
    for name, figures in summary["history"].items():
        a, b = figures[INTERPRETER], figures[HANDWRITTEN]
        lines.append(
            f"| {name}: history events / activity tasks / markers / workflow tasks; "
            f"size | {_history_cell(a)} | {_history_cell(b)} | "
            f"{a['events'] / b['events']:.2f}× events, {a['bytes'] / b['bytes']:.2f}× bytes |"
        )
    waiting = summary["waiting"]
    if not waiting:
        return "\n".join(lines)
    sides = [waiting.get(side) for side in SIDES]
    first = next(figures for figures in sides if figures)

    def cells(metric: str, fmt: str, unit: str) -> str:
        values = [f"{figures[metric]:{fmt}} {unit}" if figures else "–" for figures in sides]
        a, b = sides
        ratio = f"{a[metric] / b[metric]:.2f}×" if a and b else "–"
        return " | ".join([*values, ratio])

    lines.append(
        f"| worker RSS with {int(first['runs']):,} runs waiting (cache {waiting['cache']:,}) | "
        + cells("waiting_rss_mib", ",.0f", "MiB")
        + " |"
    )
    lines.append(
        f"| release {int(first['runs']):,} waiting runs, all completed | "
        + cells("release_s", ",.1f", "s")
        + " |"
    )
    return "\n".join(lines)


def _history_cell(h: dict[str, int]) -> str:
    return (
        f"{h['events']} / {h['activity_tasks']} / {h['markers']} / {h['workflow_tasks']}; "
        f"{h['bytes'] / 1000:.1f} kB"
    )


async def _sample_load(samples: list[float]) -> None:
    while True:
        samples.append(os.getloadavg()[0])
        await asyncio.sleep(5)


async def _round(bench: Bench, round_no: int, results: Results, args: argparse.Namespace) -> None:
    """Every scenario once per side; the side that goes first alternates per round."""
    order = SIDES if round_no % 2 == 0 else SIDES[::-1]
    for scenario in bench.scenarios.values():
        if scenario.name == "chain3":
            runs = args.runs
        elif scenario.name.startswith("fanout"):
            runs = args.fanout_runs
        else:
            runs = args.pipeline_runs
        for side in order:
            figures = await bench.sequential(scenario, side, runs)
            results.add(scenario.name, side, figures)
            _say(f"round {round_no + 1} {scenario.name} {side}: {_short(figures)}")
        if scenario.name == "chain3":
            for side in order:
                figures = await bench.throughput(scenario, side, args.concurrent, args.in_flight)
                results.add("chain3@50", side, figures)
                _say(f"round {round_no + 1} chain3@50 {side}: {_short(figures)}")


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    load_before = os.getloadavg()
    load_samples: list[float] = []
    sampler = asyncio.create_task(_sample_load(load_samples))
    scenarios = _scenarios(args.step_ms)
    if args.scenarios:
        unknown = set(args.scenarios) - set(scenarios)
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        scenarios = {name: s for name, s in scenarios.items() if name in args.scenarios}
    results = Results()
    history: dict[str, Any] = {}
    waiting: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-interpreter-") as tmp:
        workdir = Path(tmp)
        os.environ[STORE_ENV] = str(workdir / "payloads")  # the client's and the workers'
        os.environ["XDG_STATE_HOME"] = str(workdir / "state")
        os.environ["LLM_ORCHESTRATOR_VECTORS"] = str(workdir / "vectors")
        server = DevServer(port=_free_port(), ui_port=None, db_file=workdir / "temporal.db")
        server.start(log=workdir / "server.log")
        worker: WorkerProcess | None = None
        try:
            assert server.process is not None
            client = await connect(server.address, wait=30)
            queues = {s: f"{s[:4]}-{uuid.uuid4().hex[:8]}" for s in SIDES}
            if "ab" in args.only:
                worker = await WorkerProcess(
                    server.address, queues, args.cache, workdir / "worker.log"
                ).start()
                bench = Bench(client, worker, server.process.pid, scenarios)
                for scenario in scenarios.values():
                    history[scenario.name] = await _verify(bench, scenario)
                    _say(f"checked {scenario.name}: {history[scenario.name]}")
                for round_no in range(args.rounds):
                    await _round(bench, round_no, results, args)
                worker.stop()
            if "waiting" in args.only:
                for side in args.waiting_sides:
                    waiting[side] = await _waiting(client, server.address, side, args, workdir)
                    _say(f"waiting {side}: {_short(waiting[side])}")
        finally:
            if worker is not None:
                worker.stop()
            server.stop()
            sampler.cancel()
    load_after = os.getloadavg()
    table = []
    for label, key, metric, unit in ROWS if results.rounds else ():
        if key not in results.rounds:
            continue
        medians = results.medians(key)
        a, b = medians[INTERPRETER][metric], medians[HANDWRITTEN][metric]
        table.append(
            {
                "measurement": label,
                "key": key,
                "metric": metric,
                "unit": unit,
                INTERPRETER: round(a, 3),
                HANDWRITTEN: round(b, 3),
                "ratio": _ratio(a, b),
            }
        )
    if waiting:
        waiting["cache"] = args.cache
        if len(waiting) == len(SIDES) + 1:
            waiting["ratio_waiting_rss"] = _ratio(
                waiting[INTERPRETER]["waiting_rss_mib"], waiting[HANDWRITTEN]["waiting_rss_mib"]
            )
    return {
        "command": "python bench/bench_interpreter.py " + shlex.join(sys.argv[1:]),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "commit": _commit(),
        "took_s": round(time.monotonic() - began, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "temporal": _temporal_version(),
            "load_before": list(load_before),
            "load_after": list(load_after),
            "load_1m_max": max([load_before[0], *load_samples, load_after[0]]),
            "load_1m_median": statistics.median([load_before[0], *load_samples, load_after[0]]),
        },
        "sizes": {
            "rounds": args.rounds,
            "chain_runs": args.runs,
            "throughput_runs": args.concurrent,
            "in_flight": args.in_flight,
            "fanout_runs": args.fanout_runs,
            "step_ms": args.step_ms,
            "pipeline_runs": args.pipeline_runs,
            "waiting": args.waiting,
            "cache": args.cache,
        },
        "table": table,
        "rounds": results.rounds,
        "history": history,
        "waiting": waiting,
    }


def _commit() -> str:
    """The checked-out commit (``+`` if the tree has changes), so figures name their code."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode != 0
    except OSError:  # informational only
        return "unknown"
    return head + ("+" if dirty else "") if head else "unknown"


def _temporal_version() -> str:
    try:
        return subprocess.run(
            [find_binary(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except Exception as exc:  # informational only
        return f"unknown ({exc})"


def _short(figures: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in figures.items())


_BEGAN = time.monotonic()


def _say(text: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f} s] {text}", file=sys.stderr, flush=True)


QUICK = {
    "rounds": 2,
    "runs": 8,
    "concurrent": 100,
    "fanout_runs": 2,
    "pipeline_runs": 5,
    "waiting": 300,
    "cache": 100,
}
FULL = {
    "rounds": 5,
    "runs": 20,
    "concurrent": 200,
    "fanout_runs": 5,
    "pipeline_runs": 10,
    "waiting": 10_000,
    "cache": 1000,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Sizes not given come from --quick's or the full run's defaults.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--rounds", type=int, help="interleaved A/B rounds (full: 5)")
    parser.add_argument("--runs", type=int, help="sequential chain runs per round (full: 20)")
    parser.add_argument("--concurrent", type=int, help="chain runs for throughput (full: 200)")
    parser.add_argument("--in-flight", type=int, default=50, help="throughput concurrency")
    parser.add_argument("--fanout-runs", type=int, help="runs per fan-out per round (full: 5)")
    parser.add_argument("--pipeline-runs", type=int, help="runs per pipeline per round (full: 10)")
    parser.add_argument("--step-ms", type=int, default=200, help="a fan-out step's duration")
    parser.add_argument("--waiting", type=int, help="runs parked on a signal (full: 10,000)")
    parser.add_argument("--cache", type=int, help="max_cached_workflows (full: 1000)")
    parser.add_argument(
        "--waiting-side",
        dest="waiting_sides",
        choices=SIDES,
        action="append",
        help="park waiting runs only on this side (repeatable; default: both)",
    )
    parser.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        help="measure only this A/B scenario (repeatable; chain3, fanout20, fanout100 or a "
        "pipeline; default: all)",
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--only",
        choices=("ab", "waiting"),
        action="append",
        help="run only the interleaved A/B scenarios or only the waiting runs (default: both)",
    )
    args = parser.parse_args(argv)
    args.only = set(args.only or ("ab", "waiting"))
    args.waiting_sides = tuple(s for s in SIDES if s in (args.waiting_sides or SIDES))
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    summary = asyncio.run(_main(args))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    machine = summary["machine"]
    print(
        f"{summary['command']} — {summary['date_utc']} UTC, commit {summary['commit']}, "
        f"{machine['cpus']} CPUs, "
        f"Python {machine['python']}, {machine['temporal']}; load average (1 min) "
        f"{machine['load_before'][0]:.1f} before, {machine['load_after'][0]:.1f} after, "
        f"max {machine['load_1m_max']:.1f}; took {summary['took_s']:.0f} s. Medians of "
        f"{args.rounds} interleaved round(s); ratio = interpreter / hand-written.\n"
    )
    print(_table(summary))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())

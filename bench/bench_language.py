"""Benchmark the workflow language on a generated 5,000-step DAG.

    python bench/bench_language.py [--steps 5000] [--repeat 5] [--no-write]

Measures (best of ``--repeat``):

* load + validate from YAML text (parse with positions, original-format rewrite,
  pydantic models, whole-file checks incl. template compilation and ancestry);
  target < 1 s;
* the pure scheduler's ready-set computation over a full simulated run (every
  ``initial``/``running``/``choose``/``finish`` call), per step; target < 50 µs.

The figures are written into ``docs/performance.md`` under "Workflow language",
replacing only that section.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interpreter.dag import Dag  # noqa: E402
from interpreter.loader import load_text  # noqa: E402
from interpreter.models import BranchStep, ParallelStep  # noqa: E402
from interpreter.scheduler import Scheduler, Status  # noqa: E402

LOAD_TARGET_S = 1.0
READY_TARGET_US = 50.0
DOC = ROOT / "docs" / "performance.md"
HEADING = "## Workflow language"


# --- the generated workflow ----------------------------------------------------------


class _Generator:
    """Layers of steps; each step depends on 1-3 steps of the layer before and reads one."""

    def __init__(self, total: int, width: int, seed: int) -> None:
        self.total = total
        self.width = width
        self.rng = random.Random(seed)
        self.count = 0
        self.kinds: dict[str, int] = {}

    def _id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def _leaf(self, deps: list[str], reads: str | None) -> dict[str, Any]:
        kind = self.rng.choices(
            ["llm", "embed", "vector_search", "transform", "action"], weights=[4, 1, 1, 2, 2]
        )[0]
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        expr = f"steps.{reads}.output" if reads else "inputs.topic"
        ref = "{{ " + expr + " }}"
        step: dict[str, Any] = {"id": self._id(kind), "type": kind}
        if deps:
            step["depends_on"] = deps
        if kind == "llm":
            step.update(
                provider="openai",
                model="gpt-4o-mini",
                prompt=f"About {{{{ inputs.topic }}}}, continue from:\n{ref}",
                max_tokens=200,
                output=["text"],
            )
        elif kind == "embed":
            step.update(input=ref, output=["vector"])
        elif kind == "vector_search":
            step.update(index="docs", query=ref, top_k=3, output=["hits"])
        elif kind == "transform":
            step.update(template="{{ (" + expr + ") | string | upper }}", output=["value"])
        else:
            step.update(action="log", params={"message": f"done: {ref}"})
        return step

    def _container(self, deps: list[str], reads: str | None) -> dict[str, Any]:
        if self.rng.random() < 0.5:
            self.kinds["parallel"] = self.kinds.get("parallel", 0) + 1
            group_id = self._id("group")
            children = [self._leaf([], reads) for _ in range(4)]
            step: dict[str, Any] = {
                "id": group_id,
                "type": "parallel",
                "max_concurrency": 2,
                "steps": children,
            }
        else:
            self.kinds["branch"] = self.kinds.get("branch", 0) + 1
            cond = f"steps.{reads}.output | length > 3" if reads else "inputs.topic"
            step = {
                "id": self._id("branch"),
                "type": "branch",
                "condition": f"'yes' if ({cond}) else 'no'",
                "branches": {
                    "yes": [self._leaf([], reads), self._leaf([], reads)],
                    "no": [self._leaf([], reads)],
                },
            }
        if deps:
            step["depends_on"] = deps
        return step

    def workflow(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        previous: list[str] = []
        while self.count < self.total:
            layer: list[str] = []
            for _ in range(self.width):
                if self.count >= self.total:
                    break
                deps = self.rng.sample(previous, k=min(len(previous), self.rng.randint(1, 3)))
                reads = next((d for d in deps if not d.startswith(("group", "branch"))), None)
                if self.total - self.count > 5 and self.rng.random() < 0.04:
                    step = self._container(deps, reads)
                else:
                    step = self._leaf(deps, reads)
                steps.append(step)
                layer.append(step["id"])
            previous = layer
        return {
            "name": "bench-generated",
            "version": "1.0",
            "inputs": {"topic": {"type": "string"}},
            "steps": steps,
            "outputs": {"last": f"{{{{ steps.{previous[-1]}.output }}}}"},
        }


def generate(total: int, *, width: int = 50, seed: int = 7) -> tuple[str, dict[str, int]]:
    gen = _Generator(total, width, seed)
    doc = gen.workflow()
    return yaml.safe_dump(doc, sort_keys=False, width=120), gen.kinds


# --- measurements --------------------------------------------------------------------


def _best(repeat: int, fn: Any) -> tuple[float, float, Any]:
    """Best wall time, best CPU time of this process (less disturbed by other load), result."""
    best = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, result


def simulate_run(dag: Dag) -> tuple[float, int, int]:
    """Drive the scheduler through a full run; return (seconds in scheduler, calls, steps)."""
    scheduler = Scheduler(dag)
    clock = time.perf_counter
    spent = 0.0
    calls = 0
    ready: deque[str] = deque()
    running: deque[str] = deque()

    t = clock()
    decision = scheduler.initial()
    spent += clock() - t
    calls += 1
    ready.extend(decision.start)
    while ready or running:
        while ready:
            step_id = ready.popleft()
            t = clock()
            decision = scheduler.running(step_id)
            spent += clock() - t
            calls += 1
            ready.extend(decision.start)
            step = dag.nodes[step_id].step
            if isinstance(step, BranchStep):
                t = clock()
                decision = scheduler.choose(step_id, "yes" if len(step_id) % 2 else "no")
                spent += clock() - t
                calls += 1
                ready.extend(decision.start)
            elif not isinstance(step, ParallelStep):
                running.append(step_id)
        if running:
            t = clock()
            decision = scheduler.finish(running.popleft(), Status.COMPLETED)
            spent += clock() - t
            calls += 1
            ready.extend(decision.start)
    assert scheduler.done, "the simulated run did not finish"
    return spent, calls, len(dag.nodes)


def measure(total: int, repeat: int) -> dict[str, Any]:
    text, kinds = generate(total)
    load_s, load_cpu_s, definition = _best(repeat, lambda: load_text(text, "bench.yaml"))
    dag = Dag.build(definition)
    runs = [simulate_run(dag) for _ in range(repeat)]
    sched_s, calls, steps = min(runs)
    return {
        "steps": len(dag.nodes),
        "kinds": kinds,
        "yaml_bytes": len(text.encode()),
        "load_s": load_s,
        "load_cpu_s": load_cpu_s,
        "sched_s": sched_s,
        "calls": calls,
        "per_step_us": sched_s / steps * 1e6,
        "skipped": sum(1 for node in dag.nodes.values() if node.guard),
    }


# --- report --------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def section(figures: dict[str, Any], repeat: int) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(figures["kinds"].items()))
    load_ok = "meets" if figures["load_s"] < LOAD_TARGET_S else "MISSES"
    ready_ok = "meets" if figures["per_step_us"] < READY_TARGET_US else "MISSES"
    return f"""{HEADING}

Measured by `python bench/bench_language.py` (best of {repeat}) on {_machine()}.

The generated workflow has {figures["steps"]:,} steps in layers of 50; each step
depends on 1–3 steps of the layer before and reads one of them in a template
(every step is an LLM prompt, embedding input, search query, transform template
or action message). Steps by kind, nested ones included: {kinds}; each group holds
4 steps (`max_concurrency: 2`), each branch 3 inline steps in two cases. The YAML
text is {figures["yaml_bytes"] / 1e6:.1f} MB.

| What | Result | Target |
|---|---|---|
| Load + validate from YAML text: parse with positions, original-format rewrite, models, ids/edges/cycles, every template compiled and its step references checked against ancestors | {figures["load_s"] * 1000:.0f} ms ({figures["load_cpu_s"] * 1000:.0f} ms CPU) | < 1 s ({load_ok}) |
| Scheduler over a full simulated run: {figures["calls"]:,} `initial`/`running`/`choose`/`finish` calls | {figures["sched_s"] * 1000:.1f} ms in total, **{figures["per_step_us"]:.1f} µs per step** | < 50 µs per step ({ready_ok}) |

The scheduler is incremental: after each event it re-examines only the neighbours
of the step that changed (dependents, and siblings in a group with a concurrency
limit), so a run costs O(steps + edges) overall rather than a scan of the DAG per
event.

Loading first took 12.9 s on this file. What brought it under 1 s:

- *Ancestry* (is the step a template reads guaranteed to have run?) was a fresh
  walk up the graph for every template, O(n²); it is now one pass computing a
  bitmask of predecessors per step (`Dag.is_ancestor`): the file's 4,781 checks
  took 4.7 s, now 0.09 s including building the graph.
- Each template was parsed three times and its free names found by Jinja's code
  generator; it is now parsed once and walked once.
- YAML is composed by libyaml when PyYAML has it (the PyPI wheels do), after a
  depth check on libyaml's event stream; the pure-Python parser is the fallback
  and words the error messages. With the fallback, this file takes about 2.1 s.
- The cyclic garbage collector is paused while a file loads: its repeated passes
  over the growing tree of parsed objects made loading 35% slower.
"""  # noqa: E501


def write_section(text: str) -> None:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    DOC.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    args = parser.parse_args()

    figures = measure(args.steps, args.repeat)
    print(f"steps:              {figures['steps']:,} ({figures['yaml_bytes'] / 1e6:.1f} MB YAML)")
    print(
        f"load + validate:    {figures['load_s'] * 1000:.0f} ms wall, "
        f"{figures['load_cpu_s'] * 1000:.0f} ms CPU  (target < 1000 ms)"
    )
    print(
        f"scheduler:          {figures['sched_s'] * 1000:.1f} ms for {figures['calls']:,} calls, "
        f"{figures['per_step_us']:.1f} µs per step  (target < 50 µs)"
    )
    if not args.no_write:
        write_section(section(figures, args.repeat))
        print(f"written to {DOC.relative_to(ROOT)}")
    ok = figures["load_s"] < LOAD_TARGET_S and figures["per_step_us"] < READY_TARGET_US
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

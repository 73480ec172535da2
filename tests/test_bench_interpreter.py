"""`bench/bench_interpreter.py --quick` keeps working (the full figures: docs/performance.md).

Tiny sizes: this checks that every section is measured and reported, not how fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from numbers import Real
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("interpreter", "handwritten")
SCENARIOS = (
    "chain3",
    "fanout20",
    "fanout100",
    "sentiment-analysis",
    "content-moderation",
    "rag-pipeline",
    "transforms-pipeline",
)


def _number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and value == value


@pytest.mark.timeout(240)
def test_bench_interpreter_quick_reports_every_section(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path))
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable, "bench/bench_interpreter.py", "--quick",
            "--rounds", "1", "--runs", "2", "--concurrent", "6", "--in-flight", "3",
            "--fanout-runs", "1", "--pipeline-runs", "1", "--step-ms", "20",
            "--waiting", "6", "--cache", "3", "--json", str(out),
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=230,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())

    rows = {(row["key"], row["metric"]): row for row in summary["table"]}
    expected = {
        ("chain3", "p50_ms"),
        ("chain3", "p95_ms"),
        ("chain3@50", "runs_per_s"),
        ("chain3@50", "cpu_ms_per_run"),
        ("fanout20", "p50_ms"),
        ("fanout100", "p50_ms"),
        *((name, "p50_ms") for name in SCENARIOS[3:]),
        *((name, "cpu_ms_per_run") for name in SCENARIOS),
    }
    assert expected <= set(rows)
    for row in rows.values():
        assert _number(row["interpreter"]) and row["interpreter"] >= 0, row
        assert _number(row["handwritten"]) and row["handwritten"] >= 0, row
    for key in ("chain3", "chain3@50", "fanout20", "fanout100", *SCENARIOS[3:]):
        for side in SIDES:
            assert len(summary["rounds"][key][side]) == 1
    for name in ("chain3", "chain3@50", "fanout20", "fanout100", *SCENARIOS[3:]):
        latency = rows.get((name, "p50_ms")) or rows[(name, "runs_per_s")]
        assert latency["interpreter"] > 0 and latency["handwritten"] > 0
        assert _number(latency["ratio"])

    assert set(summary["history"]) == set(SCENARIOS)
    for name, figures in summary["history"].items():
        assert figures["activity_calls_matched"] >= 1, name
        for side in SIDES:
            assert figures[side]["events"] > 0 and figures[side]["activity_tasks"] >= 1
            assert all(_number(v) for v in figures[side].values())
    assert summary["history"]["fanout100"]["handwritten"]["activity_tasks"] == 100

    for side in SIDES:
        waiting = summary["waiting"][side]
        assert waiting["runs"] == waiting["completed"] == 6
        assert waiting["waiting_rss_mib"] > 0 and waiting["peak_rss_mib"] > 0
        assert all(_number(v) for v in waiting.values())
    assert summary["waiting"]["cache"] == 3

    machine = summary["machine"]
    assert machine["cpus"] >= 1
    assert len(machine["load_before"]) == len(machine["load_after"]) == 3
    assert all(_number(v) for v in (*machine["load_before"], *machine["load_after"]))
    assert "| 3-step chain p50 (sequential) |" in done.stdout
    assert "| worker RSS with 6 runs waiting (cache 3) |" in done.stdout
    assert summary["commit"] and summary["commit"] != "unknown"


@pytest.mark.timeout(240)
def test_bench_interpreter_measures_only_the_parts_asked_for(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path))
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable, "bench/bench_interpreter.py", "--quick", "--rounds", "1",
            "--pipeline-runs", "1", "--scenario", "transforms-pipeline",
            "--waiting", "4", "--cache", "2", "--waiting-side", "interpreter",
            "--json", str(out),
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=230,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())

    assert set(summary["history"]) == {"transforms-pipeline"}
    assert {row["key"] for row in summary["table"]} == {"transforms-pipeline"}
    assert set(summary["waiting"]) == {"interpreter", "cache"}
    assert summary["waiting"]["interpreter"]["completed"] == 4
    assert "| worker RSS with 4 runs waiting (cache 2) |" in done.stdout
    assert "| – | – |" in done.stdout  # no hand-written side, no ratio

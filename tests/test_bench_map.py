"""`bench/bench_map.py --quick` keeps working (the full figures: docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_bench_map_quick_runs_a_map_and_a_loop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "bench/bench_map.py", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| map of 120 `transform` items |" in done.stdout
    assert "| loop of 5 iterations (one `transform`) |" in done.stdout
    assert "Worker peak RSS" in done.stdout

"""The pytest plugin (llm_orchestrator.testing): cassettes under tests/runs become test items,
replayed on a private dev server; nothing else changes in what pytest collects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ["-p", "llm_orchestrator.testing", "-p", "no:cacheprovider"]
PYTEST = [sys.executable, "-m", "pytest", *PLUGIN]


def _env(tmp_path: Path) -> dict[str, str]:
    # no provider key and no model server: the cassette answers every model call
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


def _project(tmp_path: Path) -> Path:
    """A project with the committed LLMock-recorded cassette, a broken one, another JSON
    file and a plain test."""
    project = tmp_path / "project"
    (project / "tests/runs").mkdir(parents=True)
    (project / "tests/data").mkdir()
    (project / "examples").mkdir()
    shutil.copy(ROOT / "examples/support-triage.yaml", project / "examples")
    shutil.copy(ROOT / "tests/runs/support-triage.json", project / "tests/runs")
    (project / "tests/runs/broken.json").write_text("{not json")
    (project / "tests/data/other.json").write_text("{}")
    (project / "tests/test_plain.py").write_text("def test_plain():\n    assert True\n")
    (project / "pytest.ini").write_text("[pytest]\n")
    return project


@pytest.mark.timeout(300)  # a pytest process that starts and stops its own dev server
def test_the_plugin_collects_and_replays_cassettes_only(tmp_path: Path) -> None:
    project = _project(tmp_path)
    collected = subprocess.run(
        [*PYTEST, "--collect-only", "-q"], cwd=project, env=_env(tmp_path),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    items = sorted(line for line in collected.stdout.splitlines() if "::" in line)
    assert items == [
        "tests/runs/broken.json::broken",
        "tests/runs/support-triage.json::support-triage",
        "tests/test_plain.py::test_plain",
    ]

    ran = subprocess.run(
        [*PYTEST, "-q"], cwd=project, env=_env(tmp_path), capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    out = ran.stdout
    assert ran.returncode == 1, out + ran.stderr
    assert "1 failed, 2 passed" in out
    assert "not a cassette: invalid JSON" in out
    assert "FAILED tests/runs/broken.json::broken" in out
    assert "Traceback" not in out


def test_this_projects_collection_is_unchanged_by_the_plugin(tmp_path: Path) -> None:
    """Our JSON files outside tests/runs (recorded histories, fixtures) stay data."""

    def collect(*plugin: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *plugin, "--collect-only", "-q",
             "-p", "no:cacheprovider", "tests/replay", "tests/fixtures"],
            cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return [line for line in done.stdout.splitlines() if "::" in line]

    without = collect("-p", "no:llm_orchestrator.testing")
    assert without
    assert collect("-p", "llm_orchestrator.testing") == without

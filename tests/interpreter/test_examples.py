"""Every example loads, comes with a sample input it accepts, and can run to the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interpreter.dag import Dag
from interpreter.inputs import resolve_inputs
from interpreter.loader import load_file
from interpreter.models import BranchStep
from tests.helpers.scheduling import simulate

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"sentiment-analysis.yaml", "rag-pipeline.yaml", "content-moderation.yaml"} <= names
    assert len(names) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_and_accepts_its_sample_input(path: Path) -> None:
    definition = load_file(path)
    sample = json.loads(path.with_suffix(".input.json").read_text(encoding="utf-8"))
    resolved = resolve_inputs(definition, sample)
    assert set(definition.inputs) <= set(resolved)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_to_the_end_whatever_each_branch_chooses(path: Path) -> None:
    definition = load_file(path)
    branches = [n.step for n in Dag.build(definition).nodes.values()]
    branches = [s for s in branches if isinstance(s, BranchStep)]
    cases = {b.id: list(b.branches) for b in branches}
    for i in range(max((len(c) for c in cases.values()), default=1)):
        choices = {b: c[i % len(c)] for b, c in cases.items()}
        run = simulate(path.read_text(encoding="utf-8"), choices=choices)
        assert run.scheduler.done, choices
        assert "pending" not in run.statuses().values()

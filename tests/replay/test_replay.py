"""Recorded histories must keep replaying against the current interpreter.

``histories/`` holds the examples' runs and the control-flow runs of ``flows/`` (map in
both forms, loop, approval, wait, sub-workflows) with their child runs; see
``record.py``. A file is named for its run's workflow id (``~`` for ``/``), which the
replay needs because child ids derive from the parent's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from tests.helpers.replay import assert_replays

HERE = Path(__file__).parent
HISTORIES = sorted((HERE / "histories").glob("*.json"))
KINDS = ("map", "loop", "approval", "wait", "workflow")


def test_histories_are_recorded_for_every_example_and_flow() -> None:
    examples = {p.stem for p in (HERE.parents[1] / "examples").glob("*.yaml")}
    flows = {p.stem for p in (HERE / "flows").glob("*.yaml")}
    recorded = {p.name.split(".")[0] for p in HISTORIES}
    assert examples | flows <= recorded


def test_the_flows_use_every_control_flow_kind() -> None:
    text = "\n".join(p.read_text() for p in (HERE / "flows").glob("*.yaml"))
    assert all(f"type: {kind}" in text for kind in KINDS)


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem.replace("~", "/"), path.read_text())
    await assert_replays(history)

"""Replay a recorded run against the current `DagWorkflow`, as a worker would after an
eviction: the one way tests check that a history stays deterministic."""

from __future__ import annotations

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from interpreter.workflow import DagWorkflow
from llm_orchestrator.worker import workflow_runner

__all__ = ["assert_replays"]


async def assert_replays(
    history: WorkflowHistory, data_converter: DataConverter = pydantic_data_converter
) -> None:
    """Fail unless ``history`` replays without nondeterminism (or any other failure)."""
    replayer = Replayer(
        workflows=[DagWorkflow], data_converter=data_converter, workflow_runner=workflow_runner()
    )
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert replayed.replay_failure is None

"""The workflow language and the deterministic workflow that interprets it.

The public names below are loaded on first use: the workflow sandbox re-imports
this package for every run, and eager imports here would give the sandbox its
own copies of the language's classes (a step parsed outside would then match no
kind inside). Import the workflow itself from :mod:`interpreter.workflow`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interpreter.contract import (
        DEFAULT_TASK_QUEUE,
        QUERY_PROGRESS,
        WORKFLOW_TYPE,
        Progress,
        RunInput,
        RunResult,
        StepRecord,
        Usage,
    )
    from interpreter.errors import OrchestratorError, Problem, WorkflowDefinitionError
    from interpreter.loader import load_definition, load_file, load_text
    from interpreter.models import WorkflowDefinition
    from interpreter.steps import KINDS, AnyStep, Step, kind_of

_HOMES = {
    "DEFAULT_TASK_QUEUE": "interpreter.contract",
    "QUERY_PROGRESS": "interpreter.contract",
    "WORKFLOW_TYPE": "interpreter.contract",
    "Progress": "interpreter.contract",
    "RunInput": "interpreter.contract",
    "RunResult": "interpreter.contract",
    "StepRecord": "interpreter.contract",
    "Usage": "interpreter.contract",
    "OrchestratorError": "interpreter.errors",
    "Problem": "interpreter.errors",
    "WorkflowDefinitionError": "interpreter.errors",
    "load_definition": "interpreter.loader",
    "load_file": "interpreter.loader",
    "load_text": "interpreter.loader",
    "WorkflowDefinition": "interpreter.models",
    "KINDS": "interpreter.steps",
    "AnyStep": "interpreter.steps",
    "Step": "interpreter.steps",
    "kind_of": "interpreter.steps",
}

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "KINDS",
    "QUERY_PROGRESS",
    "WORKFLOW_TYPE",
    "AnyStep",
    "OrchestratorError",
    "Problem",
    "Progress",
    "RunInput",
    "RunResult",
    "Step",
    "StepRecord",
    "Usage",
    "WorkflowDefinition",
    "WorkflowDefinitionError",
    "kind_of",
    "load_definition",
    "load_file",
    "load_text",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:  # submodules (`from interpreter import defaults`) load as usual
        raise AttributeError(f"module 'interpreter' has no attribute {name!r}")
    return getattr(import_module(home), name)

"""Warnings: things that are valid but likely to go wrong with a real model.

Unlike :mod:`interpreter.validate`, nothing here stops a file from loading; the
CLI's ``validate`` prints these after the file's `ok`.
"""

from __future__ import annotations

from typing import Any

from interpreter.dag import Dag
from interpreter.errors import Problem
from interpreter.models import WorkflowDefinition
from interpreter.source import position
from interpreter.steps import BranchStep, LlmStep
from interpreter.templates import is_template, reads

__all__ = ["lint"]


def lint(definition: WorkflowDefinition, raw: Any, path: str) -> list[Problem]:
    """Warnings about ``definition`` (``raw`` is the located source tree)."""
    dag = Dag.build(definition)
    warnings: list[Problem] = []
    for node in dag.nodes.values():
        step = node.step
        if not isinstance(step, BranchStep) or step.default:
            continue
        expression = not is_template(step.condition)
        models = sorted(
            ref
            for ref in reads(step.condition, expression=expression).steps
            if ref in dag.nodes and isinstance(dag.nodes[ref].step, LlmStep)
        )
        if models:
            line, column = position(raw, (*node.loc, "condition")) or (None, None)
            warnings.append(
                Problem(
                    f"branch `{node.id}` decides on the reply of model step "
                    f"`{models[0]}` and has no `default:`; an answer that matches no case "
                    "skips every case",
                    path,
                    line,
                    column,
                    hint="add `default:` steps, and give the model step a `response_format` "
                    "schema with an `enum` of the cases",
                )
            )
    return warnings

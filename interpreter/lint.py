"""Warnings: things that are valid but likely to go wrong with a real model.

Unlike :mod:`interpreter.validate`, nothing here stops a file from loading; the
CLI's ``validate`` prints these after the file's `ok`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from interpreter.dag import Dag
from interpreter.errors import Problem
from interpreter.models import WorkflowDefinition
from interpreter.source import position
from interpreter.steps import BranchStep, LlmStep
from interpreter.templates import is_template, reads

__all__ = ["lint", "unknown_providers"]


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


def unknown_providers(
    definition: WorkflowDefinition, raw: Any, path: str, known: Collection[str]
) -> list[Problem]:
    """Provider names (``provider:``, fallback entries, the file's defaults) that a worker
    configured with ``known`` providers does not have, located. Validation alone cannot
    know a worker's providers; `run` asks this of its in-process worker's config."""
    problems: list[Problem] = []
    names = ", ".join(sorted(known))

    def check(name: str | None, loc: tuple[str | int, ...], what: str) -> None:
        if name is None or name in known:
            return
        line, column = position(raw, loc) or (None, None)
        problems.append(
            Problem(
                f"{what}: provider `{name}` is not configured on this worker (configured: {names})",
                path,
                line,
                column,
                hint="add it under `providers:` in the worker config (--config), or run with "
                "--offline",
            )
        )

    d = definition.defaults
    check(d.provider, ("defaults", "provider"), "defaults")
    check(d.embedding_provider, ("defaults", "embedding_provider"), "defaults")
    for i, entry in enumerate(d.fallback or []):
        check(entry.provider, ("defaults", "fallback", i, "provider"), "defaults.fallback")
    for node in Dag.build(definition).nodes.values():
        step = node.step
        check(getattr(step, "provider", None), (*node.loc, "provider"), f"step `{node.id}`")
        for i, entry in enumerate(getattr(step, "fallback", None) or []):
            check(
                entry.provider,
                (*node.loc, "fallback", i, "provider"),
                f"step `{node.id}`, fallback {i + 1}",
            )
    return problems

"""The workflows a file names, loaded and checked with it, and pinned.

A `workflow` step or an agent's ``workflow:`` tool names another workflow. A name
that is a path (it has a ``/`` or a ``.yaml``/``.yml``/``.json`` suffix) is read
relative to the file that names it; a bare name is looked for next to that file
(``NAME.yaml`` ...), and otherwise left to the worker's catalog. Every file found
is validated, its declared inputs are compared with the step's ``inputs`` (a tool
must declare some: they are its parameters), and a cycle (``a → b → a``) is an
error; all are located where the name is written. The loaded definitions travel
with the run (``RunInput.library``), so editing a referenced file never changes a
run in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpreter.errors import Problem, WorkflowDefinitionError
from interpreter.loader import load_file
from interpreter.models import WorkflowDefinition
from interpreter.source import parse, position
from interpreter.steps import AgentStep, AnyStep, Loc, WorkflowStep, kind_of
from interpreter.steps._agent_tools import WorkflowTool

__all__ = ["load_with_library"]

_SUFFIXES = (".yaml", ".yml", ".json")


def load_with_library(
    path: str | Path,
) -> tuple[WorkflowDefinition, dict[str, dict[str, Any]]]:
    """The workflow at ``path`` and every workflow it names (ref → definition as data)."""
    library: dict[str, dict[str, Any]] = {}
    definition = _load(Path(path), library, (Path(path).resolve(),))
    return definition, library


def _load(
    path: Path, library: dict[str, dict[str, Any]], chain: tuple[Path, ...]
) -> WorkflowDefinition:
    definition = load_file(path)
    raw: Any = None
    problems: list[Problem] = []
    for ref in _references(definition):
        where = (*ref.loc, "workflow")
        target = _find(path.parent, ref.workflow)
        if target is None:
            if _is_path(ref.workflow):
                raw = raw if raw is not None else parse(path.read_text(), str(path))
                problems.append(
                    _problem(
                        raw,
                        path,
                        where,
                        f"{ref.what}: no file `{ref.workflow}` next to this one",
                        "paths are relative to this file",
                    )
                )
            continue  # a catalog name: the worker resolves it
        resolved = target.resolve()
        raw = raw if raw is not None else parse(path.read_text(), str(path))
        if resolved in chain:
            cycle = " → ".join(p.name for p in (*chain[chain.index(resolved) :], resolved))
            problems.append(
                _problem(
                    raw,
                    path,
                    where,
                    f"{ref.what}: workflows call each other in a cycle: {cycle}",
                    "break the cycle",
                )
            )
            continue
        try:
            child = _load(target, library, (*chain, resolved))
        except WorkflowDefinitionError as exc:
            first = exc.problems[0].format() if exc.problems else str(exc)
            problems.append(
                _problem(
                    raw,
                    path,
                    where,
                    f"{ref.what}: workflow `{ref.workflow}` is invalid: {first}",
                    None,
                )
            )
            continue
        if isinstance(ref.user, WorkflowStep):
            problems.extend(_check_inputs(raw, path, ref.loc, ref.user, child))
        elif not child.inputs:
            problems.append(
                _problem(
                    raw,
                    path,
                    where,
                    f"{ref.what}: workflow `{ref.workflow}` declares no `inputs:`",
                    "a model calls a tool with the workflow's declared inputs as its "
                    "parameters: declare them (with `description:`s)",
                )
            )
        library[ref.workflow] = child.model_dump(mode="json", by_alias=True, exclude_none=True)
    if problems:
        raise WorkflowDefinitionError(problems)
    return definition


@dataclass(frozen=True, slots=True)
class _Reference:
    """A workflow another one names: a `workflow` step, or an agent's `workflow:` tool."""

    loc: Loc
    """Where the step (or the tool entry) is written."""
    workflow: str
    user: WorkflowStep | AgentStep
    what: str
    """How messages name the user, e.g. ``step `support`, tool 2``."""


def _references(definition: WorkflowDefinition) -> Iterator[_Reference]:
    """Every workflow the file names, in nested steps and map/loop bodies too."""
    for loc, step in _all_steps(definition):
        if isinstance(step, WorkflowStep):
            yield _Reference(loc, step.workflow, step, f"step `{step.id}`")
        elif isinstance(step, AgentStep):
            for i, tool in enumerate(step.tools):
                if isinstance(tool, WorkflowTool):
                    yield _Reference(
                        (*loc, "tools", i), tool.workflow, step, f"step `{step.id}` tool {i + 1}"
                    )


def _all_steps(definition: WorkflowDefinition) -> Iterator[tuple[Loc, AnyStep]]:
    stack: list[tuple[Loc, AnyStep]] = [(("steps", i), s) for i, s in enumerate(definition.steps)]
    while stack:
        loc, step = stack.pop()
        yield loc, step
        kind = kind_of(step)
        for nested in kind.nested(step):
            if not isinstance(nested.item, str):
                stack.append(((*loc, *nested.loc), nested.item))
        for body in kind.bodies(step):
            for i, inner in enumerate(body.steps):
                stack.append(((*loc, *body.loc) if body.single else (*loc, *body.loc, i), inner))


def _is_path(ref: str) -> bool:
    return "/" in ref or ref.endswith(_SUFFIXES)


def _find(directory: Path, ref: str) -> Path | None:
    if _is_path(ref):
        candidate = directory / ref
        return candidate if candidate.is_file() else None
    for suffix in _SUFFIXES:
        candidate = directory / f"{ref}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _check_inputs(
    raw: Any, path: Path, loc: Loc, step: WorkflowStep, child: WorkflowDefinition
) -> list[Problem]:
    declared = child.inputs
    if not declared:
        return []
    problems = []
    for name in step.inputs:
        if name not in declared:
            problems.append(
                _problem(
                    raw,
                    path,
                    (*loc, "inputs", name),
                    f"step `{step.id}`: workflow `{step.workflow}` has no input `{name}`",
                    "its inputs: " + ", ".join(sorted(declared)),
                )
            )
    for name, spec in declared.items():
        if spec.required and name not in step.inputs:
            problems.append(
                _problem(
                    raw,
                    path,
                    (*loc, "inputs"),
                    f"step `{step.id}`: workflow `{step.workflow}` needs input `{name}`",
                    f"add `{name}:` under `inputs:`",
                )
            )
    return problems


def _problem(raw: Any, path: Path, loc: Loc, message: str, hint: str | None) -> Problem:
    line, column = position(raw, loc) or (None, None)
    return Problem(message, str(path), line, column, hint=hint)

"""Checks a parsed definition as a whole: ids, edges, cycles and templates.

Pydantic checks each field; this module checks what only the whole file can
tell — that every reference points at a real step that will have finished, that
the graph has no cycle, and that every template compiles and reads only names
that exist. All problems are collected, none stops the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from interpreter.context import STEP_FIELDS
from interpreter.dag import Dag, find_cycle
from interpreter.errors import Problem
from interpreter.hints import nearest
from interpreter.models import WorkflowDefinition
from interpreter.source import position
from interpreter.steps import AnyStep, Loc, kind_of
from interpreter.templates import FILTERS, ROOT_NAMES, TESTS, check_syntax, is_template, reads

__all__ = ["check_definition"]

RESERVED_OUTPUT_NAMES = frozenset({"status", "error", "attempts", "duration_ms", "usage"})


def _template_fields(step: AnyStep, loc: Loc) -> Iterator[tuple[Loc, str, bool]]:
    """(location, source, is_condition) for every templated field of ``step``.

    The fields come from the step's kind: the same list the workflow renders.
    """
    if step.when is not None:
        yield (*loc, "when"), step.when, True
    kind = kind_of(step)
    for name, value in kind.template_sources(step).items():
        yield from _strings_in(value, (*loc, name))
    for name in kind.conditions:
        yield (*loc, name), getattr(step, name), True


def _strings_in(value: Any, loc: Loc) -> Iterator[tuple[Loc, str, bool]]:
    if isinstance(value, str):
        if is_template(value):
            yield loc, value, False
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_in(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings_in(item, (*loc, i))


class _Checker:
    def __init__(self, definition: WorkflowDefinition, raw: Any, path: str) -> None:
        self.definition = definition
        self.raw = raw
        self.path = path
        self.problems: list[Problem] = []

    def report(self, loc: Loc, message: str, hint: str | None = None) -> None:
        line_col = position(self.raw, loc)
        self.problems.append(
            Problem(
                message,
                self.path,
                line_col[0] if line_col else None,
                line_col[1] if line_col else None,
                hint=hint,
                where=".".join(str(p) for p in loc),
            )
        )

    def run(self) -> list[Problem]:
        dag = Dag.build(self.definition)
        ids = set(dag.nodes)
        for step_id, first, second in dag.duplicates:
            line = position(self.raw, first)
            self.report(
                (*second, "id"),
                f"duplicate step id `{step_id}`"
                + (f" (first defined at line {line[0]})" if line else ""),
                hint="step ids must be unique across the whole file, nested steps included",
            )
        edges_ok = True
        for node in dag.nodes.values():
            for i, dep in enumerate(node.step.depends_on):
                if dep == node.id:
                    edges_ok = False
                    self.report(
                        (*node.loc, "depends_on", i),
                        f"step `{node.id}` depends on itself",
                        hint="remove it from its own `depends_on`",
                    )
                elif dep not in ids:
                    edges_ok = False
                    self.report(
                        (*node.loc, "depends_on", i),
                        f"step `{node.id}` depends on unknown step `{dep}`",
                        hint=nearest(dep, ids),
                    )
            kind_of(node.step).check(node.step, node.loc, self.report)
            seen: set[str] = set()
            for j, name in enumerate(node.step.output):
                if name in seen:
                    self.report(
                        (*node.loc, "output", j),
                        f"output name `{name}` is listed twice in step `{node.id}`",
                        hint="each name binds one value; rename or remove one",
                    )
                seen.add(name)
                if name in RESERVED_OUTPUT_NAMES:
                    self.report(
                        (*node.loc, "output", j),
                        f"output name `{name}` is reserved",
                        hint="choose another name",
                    )
        owners: dict[str, str] = {}
        for branch_id, case, target, loc in dag.branch_targets:
            if target not in ids:
                edges_ok = False
                self.report(
                    loc,
                    f"branch `{branch_id}` case `{case}` names unknown step `{target}`",
                    hint=nearest(target, ids),
                )
            elif target == branch_id:
                edges_ok = False
                self.report(loc, f"branch `{branch_id}` names itself in case `{case}`")
            elif owners.setdefault(target, branch_id) != branch_id:
                edges_ok = False
                self.report(
                    loc,
                    f"step `{target}` is claimed by two branches: `{owners[target]}` "
                    f"and `{branch_id}`",
                    hint="a step can belong to one branch; join the branches with a step instead",
                )
        cycle = find_cycle(dag) if edges_ok else None
        if cycle:
            self.report(
                (*dag.nodes[cycle[0]].loc, "depends_on"),
                "dependency cycle: " + " → ".join(cycle),
                hint="remove one of these dependencies",
            )
            return self.problems
        self._check_templates(dag)
        return self.problems

    def _check_templates(self, dag: Dag) -> None:
        ids = set(dag.nodes)
        by_output: dict[str, str] = {}
        for node in dag.nodes.values():
            for name in node.step.output:
                by_output.setdefault(name, node.id)
        declared = set(self.definition.inputs)
        allowed_roots = set(ROOT_NAMES) | declared
        strict_roots = bool(declared)

        def check(loc: Loc, source: str, condition: bool, step_id: str | None) -> None:
            expression = condition and not is_template(source)
            error = check_syntax(source, expression=expression)
            where = f"step `{step_id}`" if step_id else "workflow outputs"
            if error:
                self.report(loc, f"{where}: template {error}", hint="fix the template syntax")
                return
            read = reads(source, expression=expression)
            for name in sorted(read.unknown_filters):
                self.report(
                    loc,
                    f"{where}: template uses unknown filter `{name}`",
                    hint=nearest(name, FILTERS) or "see docs/language.md for the filters",
                )
            for name in sorted(read.unknown_tests):
                self.report(
                    loc,
                    f"{where}: template uses unknown test `{name}`",
                    hint=nearest(name, TESTS) or "see docs/language.md for the tests",
                )
            if strict_roots:
                for name in sorted(read.inputs - declared):
                    self.report(
                        loc,
                        f"{where}: template reads input `{name}`, which `inputs:` does not declare",
                        hint=nearest(name, declared) or f"declare `{name}` under `inputs:`",
                    )
            for ref, field in sorted(read.step_fields):
                node = dag.nodes.get(ref)
                if node is None:
                    continue  # an unknown step is reported below
                produced = {*node.step.output, *STEP_FIELDS}
                if field not in produced:
                    self.report(
                        loc,
                        f"{where}: template reads `steps.{ref}.{field}`, which step `{ref}` "
                        "does not produce",
                        hint=nearest(field, produced)
                        or f"a step gives {', '.join(f'`{n}`' for n in sorted(produced))}",
                    )
            if strict_roots:
                for name in sorted(read.names - allowed_roots):
                    self.report(
                        loc,
                        f"{where}: template reads unknown variable `{name}`",
                        hint=nearest(name, allowed_roots)
                        or "templates read inputs.<name>, steps.<id>.output, steps.<id>.<output>",
                    )
            for ref in sorted(read.steps):
                target = ref if ref in ids else by_output.get(ref)
                if target is None:
                    self.report(
                        loc,
                        f"{where}: template refers to unknown step `{ref}`",
                        hint=nearest(ref, ids | set(by_output)),
                    )
                elif step_id and target != step_id and not dag.is_ancestor(step_id, target):
                    self.report(
                        loc,
                        f"{where}: template reads step `{target}`, which is not guaranteed to "
                        "have run before it",
                        hint=f"add `{target}` to `depends_on` of `{step_id}`",
                    )
                elif step_id == target:
                    self.report(loc, f"{where}: template reads the step's own output")

        for node in dag.nodes.values():
            for loc, source, condition in _template_fields(node.step, node.loc):
                check(loc, source, condition, node.id)
        for key, value in self.definition.outputs.items():
            for loc, source, _ in _strings_in(value, ("outputs", key)):
                check(loc, source, False, None)


def check_definition(definition: WorkflowDefinition, raw: Any, path: str) -> list[Problem]:
    """Every whole-file problem in ``definition`` (``raw`` is the located source tree)."""
    return _Checker(definition, raw, path).run()

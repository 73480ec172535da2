"""Checks a parsed definition as a whole: ids, edges, cycles and templates.

Pydantic checks each field; this module checks what only the whole file can
tell — that every reference points at a real step that will have finished, that
the graph has no cycle, and that every template compiles and reads only names
that exist. All problems are collected, none stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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

RESERVED_OUTPUT_NAMES = frozenset(
    {"status", "error", "attempts", "duration_ms", "usage", "answered_by"}
)


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
    def __init__(
        self,
        definition: WorkflowDefinition,
        raw: Any,
        path: str,
        *,
        outer: frozenset[str] = frozenset(),
        roots: frozenset[str] = frozenset(),
        where: Callable[[Loc], Loc] = lambda loc: loc,
    ) -> None:
        self.definition = definition
        self.raw = raw
        self.path = path
        self.problems: list[Problem] = []
        self.outer = outer
        """Steps outside this (body) definition that its templates may read."""
        self.roots = roots
        """Extra names its templates may read (``item``, ``index``, ``loop`` ...)."""
        self.where = where
        """Where a location of this definition is in the file (bodies sit inside a step)."""

    def report(self, loc: Loc, message: str, hint: str | None = None) -> None:
        loc = self.where(loc)
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
        self._check_bodies(dag)
        return self.problems

    def _check_bodies(self, dag: Dag) -> None:
        """Each map/loop body on its own, reading what comes before its step and its names."""
        for node in dag.nodes.values():
            for body in kind_of(node.step).bodies(node.step):
                at = self.where((*node.loc, *body.loc))
                sub = WorkflowDefinition.model_construct(
                    name=self.definition.name,
                    version=self.definition.version,
                    inputs=self.definition.inputs,
                    defaults=self.definition.defaults,
                    steps=list(body.steps),
                    outputs={},
                    timeout=None,
                    budget=None,
                    metadata={},
                )
                checker = _Checker(
                    sub,
                    self.raw,
                    self.path,
                    outer=self.outer | dag.ancestors(node.id) | _output_names(dag, node.id),
                    roots=self.roots | body.roots,
                    where=_body_locs(at, single=body.single),
                )
                checker.run()
                for loc, source in body.conditions:
                    checker.check_template(
                        (*node.loc, *loc), source, True, None, Dag.build(sub), raw_loc=True
                    )
                self.problems.extend(checker.problems)

    def _check_templates(self, dag: Dag) -> None:
        for node in dag.nodes.values():
            for loc, source, condition in _template_fields(node.step, node.loc):
                self.check_template(loc, source, condition, node.id, dag)
        for key, value in self.definition.outputs.items():
            for loc, source, _ in _strings_in(value, ("outputs", key)):
                self.check_template(loc, source, False, None, dag)

    def check_template(
        self,
        loc: Loc,
        source: str,
        condition: bool,
        step_id: str | None,
        dag: Dag,
        *,
        raw_loc: bool = False,
    ) -> None:
        """Check one template read by ``step_id`` (``None``: outputs, or a loop's `until`)."""
        if raw_loc:  # already a location in the file
            where_loc = self.where
            self.where = lambda loc: loc
            try:
                self.check_template(loc, source, condition, step_id, dag)
            finally:
                self.where = where_loc
            return
        ids = set(dag.nodes)
        by_output: dict[str, str] = {}
        for node in dag.nodes.values():
            for name in node.step.output:
                by_output.setdefault(name, node.id)
        declared = set(self.definition.inputs)
        allowed_roots = set(ROOT_NAMES) | declared | self.roots
        strict_roots = bool(declared)
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
            read_node = dag.nodes.get(ref)
            if read_node is None:
                continue  # an unknown (or outer) step is reported below
            produced = {
                *read_node.step.output,
                *STEP_FIELDS,
                *kind_of(read_node.step).record_fields,
            }
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
            if target is None and ref in self.outer:
                continue  # a step before the body's own step (a map or loop)
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


def _output_names(dag: Dag, step_id: str) -> frozenset[str]:
    """Output names bound by the steps before ``step_id``."""
    return frozenset(
        name for ancestor in dag.ancestors(step_id) for name in dag.nodes[ancestor].step.output
    )


def _body_locs(at: Loc, *, single: bool) -> Callable[[Loc], Loc]:
    """Map a body definition's locations (``steps.i...``) to where the body is written."""

    def where(loc: Loc) -> Loc:
        if len(loc) >= 2 and loc[0] == "steps":
            return (*at, *loc[2:]) if single else (*at, *loc[1:])
        return (*at, *loc)

    return where


def check_definition(
    definition: WorkflowDefinition,
    raw: Any,
    path: str,
    *,
    outer: Iterable[str] = (),
    roots: Iterable[str] = (),
) -> list[Problem]:
    """Every whole-file problem in ``definition`` (``raw`` is the located source tree).

    ``outer`` and ``roots`` are for a body run (a map batch, a loop iteration): the outer
    steps and the extra names its templates may read.
    """
    return _Checker(definition, raw, path, outer=frozenset(outer), roots=frozenset(roots)).run()

"""Build a workflow in Python: the same language as a file, checked by the same validator.

::

    triage = (
        Workflow("triage", description="Route a ticket")
        .input("ticket", type="string")
        .llm("classify", prompt="Urgent or normal? {{ inputs.ticket }}", output=["label"])
        .branch("route", depends_on=["classify"], condition="steps.classify.label",
                branches={"urgent": ["page"]}, default=[])
        .action("page", action="log", params={"message": "urgent: {{ inputs.ticket }}"})
        .output("label", "{{ steps.classify.label }}")
    )
    triage.definition()   # a checked WorkflowDefinition, or WorkflowDefinitionError
    triage.to_yaml()      # the file this builds

Each step method takes the step's id and its fields as keyword arguments, named as
in a file (``as_`` for ``as``). Steps inside other steps (``parallel``, ``loop``,
``map``, inline branch cases) are built with :class:`Steps` and passed as the field's
value. Nothing is checked until :meth:`Workflow.definition` (or an export): then the
whole definition goes through :func:`interpreter.loader.load_definition`, and every
problem is located at the builder call that made the step, e.g.
``Workflow("triage").llm("classify"): unknown field `temprature` (hint: did you mean
`temperature`?)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import yaml

from interpreter.dag import Dag
from interpreter.errors import Problem, WorkflowDefinitionError
from interpreter.loader import load_definition
from interpreter.models import WorkflowDefinition

__all__ = ["StepSpec", "Steps", "Workflow"]

_RENAMED = {"as_": "as"}
"""Keyword arguments that cannot be spelled as in a file (Python keywords)."""


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step as a builder call wrote it: its kind, id, fields, and the call's text."""

    type: str
    id: str
    fields: Mapping[str, Any]
    call: str
    """How the builder call reads, for error messages: ``.llm("classify")``."""

    def to_dict(self) -> dict[str, Any]:
        """The step as it would be written in a file."""
        return {"id": self.id, "type": self.type, **_plain(dict(self.fields))}


def _plain(value: Any) -> Any:
    """Builder objects inside a field (nested steps) turned into file data."""
    if isinstance(value, StepSpec):
        return value.to_dict()
    if isinstance(value, Steps):
        return [spec.to_dict() for spec in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _calls(value: Any, where: str, found: dict[str, str], outer: str = "") -> None:
    """Map the dotted location of every step to the builder call that made it
    (``steps.2.steps.0`` → ``Workflow('t').parallel('fan') → Steps().llm('a')``)."""
    if isinstance(value, StepSpec):
        call = f"{outer} → {value.call}" if outer else value.call
        found[where] = call
        for name, inner in value.fields.items():
            _calls(inner, f"{where}.{name}", found, call)
    elif isinstance(value, Steps):
        for index, spec in enumerate(value):
            _calls(spec, f"{where}.{index}", found, outer)
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            _calls(inner, f"{where}.{key}", found, outer)
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            _calls(inner, f"{where}.{index}", found, outer)


class Steps:
    """An ordered list of steps, built one call at a time; each method returns ``self``.

    One method per step kind (a test checks every kind has one); each is
    :meth:`step` with its ``type`` filled in.
    """

    def __init__(self) -> None:
        self._specs: list[StepSpec] = []

    def __iter__(self) -> Iterator[StepSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, index: int) -> StepSpec:
        return self._specs[index]

    def step(self, type: str, id: str, /, **fields: Any) -> Self:
        """Add a step of kind ``type``; the other kinds' methods call this."""
        named = {_RENAMED.get(name, name): value for name, value in fields.items()}
        self._specs.append(StepSpec(type, id, named, f"{self._prefix()}.{type}({id!r})"))
        return self

    def _prefix(self) -> str:
        return "Steps()"

    def llm(self, id: str, /, **fields: Any) -> Self:
        return self.step("llm", id, **fields)

    def embed(self, id: str, /, **fields: Any) -> Self:
        return self.step("embed", id, **fields)

    def vector_search(self, id: str, /, **fields: Any) -> Self:
        return self.step("vector_search", id, **fields)

    def transform(self, id: str, /, **fields: Any) -> Self:
        return self.step("transform", id, **fields)

    def action(self, id: str, /, **fields: Any) -> Self:
        return self.step("action", id, **fields)

    def parallel(self, id: str, /, **fields: Any) -> Self:
        return self.step("parallel", id, **fields)

    def branch(self, id: str, /, **fields: Any) -> Self:
        return self.step("branch", id, **fields)

    def map(self, id: str, /, **fields: Any) -> Self:
        return self.step("map", id, **fields)

    def loop(self, id: str, /, **fields: Any) -> Self:
        return self.step("loop", id, **fields)

    def approval(self, id: str, /, **fields: Any) -> Self:
        return self.step("approval", id, **fields)

    def wait(self, id: str, /, **fields: Any) -> Self:
        return self.step("wait", id, **fields)

    def workflow(self, id: str, /, **fields: Any) -> Self:
        return self.step("workflow", id, **fields)

    def mcp(self, id: str, /, **fields: Any) -> Self:
        return self.step("mcp", id, **fields)

    def agent(self, id: str, /, **fields: Any) -> Self:
        return self.step("agent", id, **fields)


class Workflow(Steps):
    """A whole workflow: its name and top-level fields, inputs, steps and outputs."""

    def __init__(self, name: str, /, **fields: Any) -> None:
        """``fields``: top-level fields as in a file (``version``, ``description``,
        ``defaults``, ``timeout``, ``budget``, ``metadata``)."""
        super().__init__()
        self.name = name
        self._fields = dict(fields)
        self._inputs: dict[str, dict[str, Any]] = {}
        self._outputs: dict[str, Any] = {}

    def _prefix(self) -> str:
        return f"Workflow({self.name!r})"

    def input(self, name: str, /, **spec: Any) -> Self:
        """Declare an input: ``type``, ``required``, ``default``, ``description``."""
        self._inputs[name] = spec
        return self

    def output(self, name: str, template: Any, /) -> Self:
        """A run output: a template rendered when the run ends."""
        self._outputs[name] = template
        return self

    def to_dict(self) -> dict[str, Any]:
        """The workflow as file data (not checked: see :meth:`definition`)."""
        data: dict[str, Any] = {"name": self.name, **_plain(self._fields)}
        if self._inputs:
            data["inputs"] = _plain(self._inputs)
        data["steps"] = [spec.to_dict() for spec in self]
        if self._outputs:
            data["outputs"] = _plain(self._outputs)
        return data

    def definition(self) -> WorkflowDefinition:
        """The checked definition; raises ``WorkflowDefinitionError`` whose problems name
        the builder call of each step at fault."""
        source = f"{self._prefix()} (Python builder)"
        try:
            return load_definition(self.to_dict(), source)
        except WorkflowDefinitionError as exc:
            raise WorkflowDefinitionError(self._locate(exc.problems)) from None

    def _locate(self, problems: Any) -> list[Problem]:
        calls: dict[str, str] = {}
        for index, spec in enumerate(self):
            _calls(spec, f"steps.{index}", calls)
        located = []
        for problem in problems:
            where = problem.where or ""
            owner = max(
                (loc for loc in calls if where == loc or where.startswith(loc + ".")),
                key=len,
                default=None,
            )
            path = calls[owner] if owner is not None else self._prefix()
            located.append(replace(problem, path=path, line=None, column=None))
        return located

    def dag(self) -> Dag:
        """The checked definition's graph (to compare with a file's)."""
        return Dag.build(self.definition())

    def to_yaml(self) -> str:
        """The checked workflow as a YAML file."""
        self.definition()
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The checked workflow as JSON."""
        self.definition()
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        """Write the checked workflow to ``path`` (``.json`` → JSON, else YAML)."""
        target = Path(path)
        text = self.to_json() if target.suffix == ".json" else self.to_yaml()
        target.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        return target

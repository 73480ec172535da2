"""Bad control-flow files: each a located error before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.errors import WorkflowDefinitionError
from interpreter.library import load_with_library
from interpreter.loader import load_text
from tests.helpers.problems import load_problems


def _problems(text: str) -> list[str]:
    return load_problems(text)


HEAD = "name: w\ninputs:\n  xs: {type: array}\nsteps:\n"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("  - {id: m, type: map, step: {type: transform, template: x}}\n",
         "w.yaml:5:5: step `m`: missing required field `items`"),
        ("  - {id: m, type: map, items: '{{ inputs.xs }}'}\n",
         "a `map` step needs exactly one of `step` or `steps`"),
        ("  - id: m\n    type: map\n    items: []\n    step: {type: transform, template: x}\n"
         "    steps: [{id: b, type: transform, template: y}]\n",
         "a `map` step needs exactly one of `step` or `steps`"),
        ("  - {id: l, type: loop, steps: [{id: b, type: transform, template: y}]}\n",
         "missing required field `max_iterations`"),
        ("  - {id: l, type: loop, max_iterations: 0,"
         " steps: [{id: b, type: transform, template: y}]}\n",
         "w.yaml:5:41: step `l`, field `max_iterations`: Input should be greater than or equal"),
        ("  - {id: a, type: approval}\n", "missing required field `message`"),
        ("  - {id: w, type: wait}\n", "a `wait` step needs exactly one of `duration` or `signal`"),
        ("  - {id: w, type: wait, duration: 1s, signal: go}\n", "exactly one of `duration`"),
    ],
)  # fmt: skip
def test_malformed_kinds(step: str, expected: str) -> None:
    problems = _problems(HEAD + step)
    assert any(expected in p for p in problems), problems


def test_a_body_step_is_not_readable_from_outside() -> None:
    text = HEAD + (
        "  - id: each\n    type: map\n    items: '{{ inputs.xs }}'\n"
        "    steps: [{id: inner, type: transform, template: '{{ item }}'}]\n"
        "  - {id: after, type: transform, depends_on: [each],"
        " template: '{{ steps.inner.output }}'}\n"
    )
    (problem,) = _problems(text)
    assert "w.yaml:9:64: step `after`: template refers to unknown step `inner`" in problem


def test_a_body_reads_its_item_and_earlier_steps_but_not_later_ones() -> None:
    text = HEAD + (
        "  - {id: first, type: transform, template: a}\n"
        "  - id: each\n    type: map\n    depends_on: [first]\n    items: '{{ inputs.xs }}'\n"
        "    as: x\n"
        "    step: {type: transform, template: '{{ x }}{{ index }}{{ steps.first.output }}"
        "{{ steps.later.output }}'}\n"
        "  - {id: later, type: transform, template: b, depends_on: [each]}\n"
    )
    (problem,) = _problems(text)
    assert problem.startswith("w.yaml:11:")
    assert "step `each`: template refers to unknown step `later`" in problem


def test_a_loops_until_reads_its_body() -> None:
    text = HEAD + (
        "  - id: l\n    type: loop\n    max_iterations: 3\n    until: 'steps.b.output > 1'\n"
        "    steps: [{id: b, type: transform, template: '{{ loop.index }}'}]\n"
    )
    load_text(text)  # `until` may read body steps, the body may read `loop`
    (problem,) = _problems(text.replace("steps.b.output > 1", "steps.c.output > 1"))
    assert "w.yaml:8:12: workflow outputs: template refers to unknown step `c`" in problem


def _files(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


CHILD = (
    "name: child\ninputs:\n  n: {type: integer}\n"
    "steps:\n  - {id: s, type: transform, template: x}\n"
)


def test_workflow_steps_load_their_files_and_pin_them(tmp_path: Path) -> None:
    parent = "name: p\nsteps:\n  - {id: c, type: workflow, workflow: child.yaml, inputs: {n: 1}}\n"
    root = _files(tmp_path, **{"parent.yaml": parent, "child.yaml": CHILD})
    definition, library = load_with_library(root / "parent.yaml")
    assert definition.name == "p"
    assert library["child.yaml"]["name"] == "child"


@pytest.mark.parametrize(
    ("parent", "expected"),
    [
        ("  - {id: c, type: workflow, workflow: missing.yaml}\n",
         ":3:39: step `c`: no file `missing.yaml` next to this one"),
        ("  - {id: c, type: workflow, workflow: child.yaml, inputs: {m: 1}}\n",
         "workflow `child.yaml` has no input `m`"),
        ("  - {id: c, type: workflow, workflow: child.yaml}\n",
         "workflow `child.yaml` needs input `n`"),
        ("  - {id: c, type: workflow, workflow: parent.yaml}\n",
         "workflows call each other in a cycle: parent.yaml → parent.yaml"),
    ],
)  # fmt: skip
def test_workflow_step_references_are_checked(tmp_path: Path, parent: str, expected: str) -> None:
    root = _files(tmp_path, **{"parent.yaml": "name: p\nsteps:\n" + parent, "child.yaml": CHILD})
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_with_library(root / "parent.yaml")
    text = "\n".join(p.format() for p in caught.value.problems)
    assert expected in text


def test_a_cycle_through_two_files(tmp_path: Path) -> None:
    a = "name: a\nsteps:\n  - {id: to_b, type: workflow, workflow: b.yaml}\n"
    b = "name: b\nsteps:\n  - {id: to_a, type: workflow, workflow: a.yaml}\n"
    root = _files(tmp_path, **{"a.yaml": a, "b.yaml": b})
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_with_library(root / "a.yaml")
    assert "cycle: a.yaml → b.yaml → a.yaml" in "\n".join(p.format() for p in caught.value.problems)

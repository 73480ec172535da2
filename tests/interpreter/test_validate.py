"""Whole-file checks: template references, variables, reserved names, branch ownership."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from interpreter.loader import load_text
from tests.helpers.problems import load_problems


def _problems(text: str) -> list[str]:
    return load_problems(text)


def test_unknown_variable_is_an_error_when_inputs_are_declared() -> None:
    text = """\
name: v
inputs:
  question: {type: string}
steps:
  - id: a
    type: llm
    prompt: "{{ qestion }}"
"""
    assert _problems(text) == [
        "w.yaml:7:13: step `a`: template reads unknown variable `qestion` "
        "(hint: did you mean `question`?)"
    ]


def test_without_declared_inputs_root_names_are_read_as_inputs() -> None:
    # the original format had no `inputs:` block and put every input at the root
    load_text('name: v\nsteps:\n  - id: a\n    type: llm\n    prompt: "Hello {{ name }}"\n')


def test_unknown_step_reference_gets_a_hint() -> None:
    text = """\
name: v
steps:
  - id: classify
    type: llm
    prompt: hi
  - id: b
    type: llm
    depends_on: [classify]
    prompt: "{{ steps.clasify.output }}"
"""
    assert _problems(text) == [
        "w.yaml:9:13: step `b`: template refers to unknown step `clasify` "
        "(hint: did you mean `classify`?)"
    ]


def test_sibling_in_a_parallel_group_is_not_an_ancestor() -> None:
    text = """\
name: v
steps:
  - id: group
    type: parallel
    steps:
      - id: one
        type: llm
        prompt: hi
      - id: two
        type: llm
        prompt: "{{ steps.one.output }}"
"""
    assert "step `two`: template reads step `one`, which is not guaranteed" in _problems(text)[0]
    load_text(text.replace('        prompt: "{{', '        depends_on: [one]\n        prompt: "{{'))


def test_output_name_reference_must_be_an_ancestor_too() -> None:
    text = """\
name: v
steps:
  - id: embed_query
    type: embed
    input: hi
    output: [query_vector]
  - id: search
    type: vector_search
    index: docs
    query: "{{ outputs.query_vector }}"
"""
    assert "template reads step `embed_query`" in _problems(text)[0]


def test_workflow_outputs_may_read_any_step() -> None:
    load_text("""\
name: v
steps:
  - id: a
    type: llm
    prompt: hi
    output: [text]
outputs:
  answer: "{{ steps.a.text }}"
""")


def test_workflow_outputs_must_name_real_steps() -> None:
    text = (
        "name: v\nsteps:\n  - id: a\n    type: llm\n    prompt: hi\n"
        'outputs:\n  x: "{{ steps.b.output }}"\n'
    )
    assert _problems(text) == ["w.yaml:7:6: workflow outputs: template refers to unknown step `b`"]


def test_reading_its_own_output_is_an_error() -> None:
    text = 'name: v\nsteps:\n  - id: a\n    type: llm\n    prompt: "{{ steps.a.output }}"\n'
    assert _problems(text) == ["w.yaml:5:13: step `a`: template reads the step's own output"]


def test_reserved_output_names() -> None:
    text = "name: v\nsteps:\n  - id: a\n    type: llm\n    prompt: hi\n    output: [text, status]\n"
    assert _problems(text) == [
        "w.yaml:6:20: output name `status` is reserved (hint: choose another name)"
    ]


def test_a_step_belongs_to_one_branch() -> None:
    text = """\
name: v
steps:
  - id: b1
    type: branch
    condition: "'x'"
    branches: {x: [shared]}
  - id: b2
    type: branch
    condition: "'y'"
    branches: {y: [shared]}
  - id: shared
    type: action
    action: log
"""
    assert "step `shared` is claimed by two branches: `b1` and `b2`" in _problems(text)[0]


def test_condition_syntax_is_checked_as_an_expression() -> None:
    text = "name: v\nsteps:\n  - id: a\n    type: action\n    action: log\n    when: inputs.x ==\n"
    assert "w.yaml:6:11: step `a`: template syntax error" in _problems(text)[0]


def test_templates_in_a_vector_search_index_are_checked() -> None:
    text = (
        "name: v\nsteps:\n  - id: s\n    type: vector_search\n"
        '    index: "docs-{{ inputs.team "\n    query: hi\n'
    )
    assert "w.yaml:5:12: step `s`: template syntax error" in _problems(text)[0]


def test_unknown_transform_function_is_located_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: m\nsteps:\n  - id: join\n    type: transform\n"
        "    function: merg\n    inputs: [a, b]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "llm_orchestrator.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{path}:5:15: step `join`: unknown transform function `merg`" in result.stdout + (
        result.stderr
    )
    assert "did you mean `merge`?" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_every_function_the_runtime_has_validates() -> None:
    from interpreter.transforms import FUNCTIONS

    for name in FUNCTIONS:
        step = f"{{id: t, type: transform, function: {name}, inputs: []}}"
        load_text(f"name: f\nsteps:\n  - {step}\n")


def test_a_branch_over_a_model_reply_without_default_is_warned_about() -> None:
    from interpreter.lint import lint
    from interpreter.source import parse

    text = """\
name: w
steps:
  - id: classify
    type: llm
    prompt: "safe or not?"
  - id: route
    type: branch
    depends_on: [classify]
    condition: steps.classify.output
    branches:
      safe: [{id: ok, type: action, action: log}]
"""
    definition = load_text(text, "w.yaml")
    (warning,) = lint(definition, parse(text), "w.yaml")
    assert warning.format().startswith("w.yaml:9:16: branch `route` decides on the reply")
    assert "add `default:`" in warning.format()
    with_default = text + "    default: [{id: other, type: action, action: log}]\n"
    assert lint(load_text(with_default), parse(with_default), "w.yaml") == []

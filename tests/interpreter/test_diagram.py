"""Mermaid and dot pictures show every step and every edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.dag import Dag
from interpreter.diagram import to_dot, to_mermaid
from interpreter.loader import load_file, load_text
from interpreter.steps import describe_step

ROOT = Path(__file__).parents[2]
FILES = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "fixtures" / "original").glob("*.yaml")
)


def _edges(path: Path) -> tuple[Dag, list[tuple[str, str]], list[tuple[str, str, str]]]:
    dag = Dag.build(load_file(path))
    deps = [(dep, n.id) for n in dag.nodes.values() for dep in n.deps]
    guards = [
        (n.guard[0], "/".join(sorted(n.guard[1])), n.id) for n in dag.nodes.values() if n.guard
    ]
    return dag, deps, guards


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_mermaid_has_every_step_and_edge(path: Path) -> None:
    dag, deps, guards = _edges(path)
    text = to_mermaid(load_file(path))
    assert text.startswith("flowchart TD\n")
    for step_id in dag.nodes:
        assert f"{step_id}[" in text or f"{step_id}{{" in text or f"subgraph {step_id}[" in text
    for dep, step_id in deps:
        assert f"  {dep} --> {step_id}\n" in text
    for branch, cases, step_id in guards:
        assert f'  {branch} -- "{cases}" --> {step_id}\n' in text


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dot_has_every_step_and_edge(path: Path) -> None:
    dag, deps, guards = _edges(path)
    text = to_dot(load_file(path))
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    for step_id in dag.nodes:
        assert f'"{step_id}" [label="{step_id}\\n' in text  # a dot line break
    for dep, step_id in deps:
        assert f'  "{dep}" -> "{step_id}";\n' in text
    for branch, cases, step_id in guards:
        assert f'  "{branch}" -> "{step_id}" [label="{cases}", style=dashed];\n' in text


def test_groups_are_subgraphs_and_labels_say_what_steps_do() -> None:
    definition = load_file(ROOT / "examples" / "research-brief.yaml")
    mermaid = to_mermaid(definition)
    assert 'subgraph analyse["analyse (parallel)"]' in mermaid
    assert 'summary["summary<br/>llm openai/gpt-4o-mini"]' in mermaid  # provider from defaults
    assert 'subgraph "cluster_analyse" {' in to_dot(definition)
    assert describe_step(definition.steps[1]) == "transform split"


def test_odd_ids_and_quotes_are_escaped() -> None:
    from interpreter.loader import load_text

    definition = load_text(
        "name: 'say \"hi\"'\nsteps:\n  - id: step-one\n    type: action\n    action: log\n"
        "  - id: step_two\n    type: action\n    action: log\n    depends_on: [step-one]\n"
    )
    assert "  step_one --> step_two\n" in to_mermaid(definition)
    assert to_dot(definition).startswith('digraph "say \\"hi\\"" {')


def test_map_and_loop_bodies_are_drawn_inside_their_step() -> None:
    definition = load_text(
        """\
name: bodies
steps:
  - id: each
    type: map
    items: [1, 2]
    steps:
      - {id: a, type: transform, template: x}
      - {id: b, type: transform, template: y, depends_on: [a]}
  - id: again
    type: loop
    max_iterations: 2
    depends_on: [each]
    steps: [{id: a, type: transform, template: z}]
"""
    )
    mermaid = to_mermaid(definition)
    assert 'subgraph each["each (map as item)"]' in mermaid
    assert '    each_a["a<br/>transform template"]' in mermaid
    assert "each_a --> each_b" in mermaid
    assert '    again_a["a<br/>transform template"]' in mermaid  # its own namespace
    dot = to_dot(definition)
    assert 'subgraph "cluster_each" {' in dot
    assert '"each.a" -> "each.b";' in dot

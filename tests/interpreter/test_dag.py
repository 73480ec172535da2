"""The step graph: nesting, cycles with their path, and ancestors."""

from __future__ import annotations

import pytest

from interpreter.dag import Dag, find_cycle
from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_text
from interpreter.models import WorkflowDefinition

NESTED = """\
name: nested
steps:
  - id: fetch
    type: action
    action: log
  - id: outer
    type: parallel
    depends_on: [fetch]
    steps:
      - id: left
        type: action
        action: log
      - id: inner
        type: parallel
        steps:
          - id: deep_a
            type: action
            action: log
          - id: deep_b
            type: action
            action: log
            depends_on: [deep_a]
  - id: after
    type: action
    action: log
    depends_on: [outer]
  - id: route
    type: branch
    depends_on: [fetch]
    condition: "'x'"
    branches:
      x:
        - id: inline_x
          type: action
          action: log
      y: [target_y]
  - id: target_y
    type: action
    action: log
"""


def _dag(text: str) -> Dag:
    return Dag.build(load_text(text))


def _graph(edges: dict[str, list[str]]) -> WorkflowDefinition:
    """A definition where each step depends on the listed ones (cycles allowed)."""
    steps = [
        {"id": step_id, "type": "action", "action": "log", "depends_on": deps}
        for step_id, deps in edges.items()
    ]
    return WorkflowDefinition.model_validate({"name": "g", "steps": steps})


def test_nested_steps_are_nodes_with_parents_and_children() -> None:
    dag = _dag(NESTED)
    assert set(dag.nodes) == {
        "fetch", "outer", "left", "inner", "deep_a", "deep_b", "after", "route", "inline_x",
        "target_y",
    }  # fmt: skip
    assert dag.nodes["deep_a"].parent == "inner"
    assert dag.nodes["inner"].parent == "outer"
    assert dag.nodes["outer"].children == ("left", "inner")
    assert dag.enclosing("deep_b") == ["inner", "outer"]
    top_level = [n.id for n in dag.nodes.values() if n.parent is None]
    assert top_level == ["fetch", "outer", "after", "route", "target_y"]


def test_branch_cases_guard_inline_and_referenced_steps() -> None:
    dag = _dag(NESTED)
    assert dag.nodes["inline_x"].guard == ("route", frozenset({"x"}))
    assert dag.nodes["inline_x"].parent == "route"
    assert dag.nodes["target_y"].guard == ("route", frozenset({"y"}))
    assert dag.nodes["target_y"].parent is None


def test_three_step_cycle_is_reported_with_its_path() -> None:
    assert find_cycle(Dag.build(_graph({"a": ["c"], "b": ["a"], "c": ["b"]}))) == [
        "a", "c", "b", "a",
    ]  # fmt: skip


def test_two_step_cycle_and_no_cycle() -> None:
    assert find_cycle(Dag.build(_graph({"a": ["b"], "b": ["a"]}))) == ["a", "b", "a"]
    assert find_cycle(Dag.build(_graph({"a": [], "b": ["a"], "c": ["a", "b"]}))) is None


def test_child_waiting_for_its_own_group_is_a_cycle() -> None:
    # the group finishes only after its children, so the child would wait forever
    with pytest.raises(WorkflowDefinitionError, match="dependency cycle: group → child → group"):
        load_text("""\
name: c
steps:
  - id: group
    type: parallel
    steps:
      - id: child
        type: action
        action: log
        depends_on: [group]
""")


def test_ancestors_of_a_chain() -> None:
    dag = Dag.build(_graph({"a": [], "b": ["a"], "c": ["b"], "d": []}))
    assert dag.ancestors("c") == {"a", "b"}
    assert dag.ancestors("a") == set()


def test_ancestors_inside_a_group_exclude_the_group_and_siblings() -> None:
    dag = _dag(NESTED)
    # a child starts after what its groups wait for, before the groups finish
    assert dag.ancestors("left") == {"fetch"}
    assert dag.ancestors("deep_b") == {"deep_a", "fetch"}


def test_ancestors_after_a_group_include_every_nested_step() -> None:
    dag = _dag(NESTED)
    assert dag.ancestors("after") == {"fetch", "outer", "left", "inner", "deep_a", "deep_b"}


def test_ancestors_of_branch_targets_include_the_branch() -> None:
    dag = _dag(NESTED)
    assert dag.ancestors("target_y") == {"route", "fetch"}
    assert dag.ancestors("inline_x") == {"fetch"}


def test_is_ancestor_agrees_with_ancestors() -> None:
    dag = _dag(NESTED)
    for step_id in dag.nodes:
        expected = dag.ancestors(step_id)
        assert {other for other in dag.nodes if dag.is_ancestor(step_id, other)} == expected
    assert not dag.is_ancestor("after", "no_such_step")

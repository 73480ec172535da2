"""The Python SDK's builder: the same language as a file, checked by the same validator."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from interpreter.dag import Dag
from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_file, load_text
from interpreter.steps import KINDS
from llm_orchestrator.sdk import Steps, Workflow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _graph(dag: Dag) -> dict[str, tuple[object, ...]]:
    """What makes two DAGs the same: each node's kind, edges, group and guard."""
    return {
        node_id: (
            node.step.type,
            node.deps,
            node.parent,
            node.guard,
            node.children,
            tuple(dag.dependents.get(node_id, ())),
        )
        for node_id, node in dag.nodes.items()
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_builds_identically_with_the_sdk(path: Path) -> None:
    module = importlib.import_module(f"examples.sdk.{path.stem.replace('-', '_')}")
    built: Workflow = module.WORKFLOW
    from_file = load_file(path)
    assert built.definition() == from_file
    exported = load_text(built.to_yaml(), f"{path.stem} exported")
    assert exported == from_file
    assert _graph(built.dag()) == _graph(Dag.build(from_file))


def test_every_step_kind_has_a_builder_method() -> None:
    missing = [name for name in KINDS if not callable(getattr(Steps, name, None))]
    assert missing == []


def test_an_invalid_field_is_located_at_the_builder_call() -> None:
    workflow = (
        Workflow("triage")
        .input("ticket", type="string")
        .llm("classify", prompt="{{ inputs.ticket }}", temprature=0.2)
        .parallel(
            "fan",
            depends_on=["classify"],
            steps=Steps().transform("a", template="{{ steps.nowhere.output }}"),
        )
    )
    with pytest.raises(WorkflowDefinitionError) as caught:
        workflow.definition()
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "Workflow('triage').llm('classify'): step `classify`: unknown field `temprature` "
        "(hint: did you mean `temperature`?)"
    )
    assert lines[1].startswith(
        "Workflow('triage').parallel('fan') → Steps().transform('a'): step `a`: "
    )
    assert "unknown step `nowhere`" in lines[1]


def test_a_problem_outside_any_step_names_the_workflow() -> None:
    workflow = Workflow("w").transform("t", template="x").output("o", "{{ steps.missing.output }}")
    with pytest.raises(WorkflowDefinitionError) as caught:
        workflow.to_yaml()
    assert str(caught.value).startswith("Workflow('w'): ")


def test_python_keyword_fields_and_export(tmp_path: Path) -> None:
    workflow = (
        Workflow("each", version="2")
        .input("items", type="array")
        .map(
            "double",
            items="{{ inputs.items }}",
            as_="n",
            steps=Steps().transform("twice", template="{{ n * 2 }}"),
        )
        .output("doubled", "{{ steps.double.output }}")
    )
    saved = workflow.save(tmp_path / "each.yaml")
    data = yaml.safe_load(saved.read_text())
    assert data["steps"][0]["as"] == "n"
    assert load_file(saved) == workflow.definition()
    assert load_text(workflow.to_json(), "json") == workflow.definition()

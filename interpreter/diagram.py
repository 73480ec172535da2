"""Pictures of a workflow's DAG: Mermaid (for the Web UI and Markdown) and Graphviz dot.

Groups (`parallel`, and the bodies of `map` and `loop`) are drawn as subgraphs; body
steps get ids prefixed with their step's (``refine.draft``), since a body is its own
namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import assert_never

from interpreter.dag import Dag, Node
from interpreter.models import Defaults, WorkflowDefinition
from interpreter.steps import AnyStep, describe_step

__all__ = ["to_dot", "to_mermaid"]


def _body_dags(node: Node, defaults: Defaults) -> Iterator[Dag]:
    """The graphs of the bodies a map or loop step runs in child runs."""
    for body in node.kind.bodies(node.step):
        yield _dag_of(list(body.steps), defaults)


def _dag_of(steps: list[AnyStep], defaults: Defaults) -> Dag:
    return Dag.build(
        WorkflowDefinition.model_construct(
            name="body", steps=steps, defaults=defaults, inputs={}, outputs={}
        )
    )


def _mermaid_id(step_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", step_id)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(definition: WorkflowDefinition) -> str:
    """A ``flowchart TD`` with groups as subgraphs and branch cases as labelled edges."""
    lines = ["flowchart TD"]
    edges: list[str] = []
    defaults = definition.defaults

    def draw(dag: Dag, prefix: str, indent: str) -> None:
        def mid(step_id: str) -> str:
            return _mermaid_id(prefix + step_id)

        def emit(node: Node, indent: str) -> None:
            summary = describe_step(node.step, defaults)
            label = _mermaid_text(f"{node.id}<br/>{summary}")
            shape = node.kind.shape
            if shape == "group":
                lines.append(
                    f'{indent}subgraph {mid(node.id)}["{_mermaid_text(node.id)} ({summary})"]'
                )
                for child in node.children:
                    emit(dag.nodes[child], indent + "  ")
                for body in _body_dags(node, defaults):
                    draw(body, f"{prefix}{node.id}.", indent + "  ")
                lines.append(f"{indent}end")
            elif shape == "decision":
                lines.append(f'{indent}{mid(node.id)}{{"{label}"}}')
                for child in node.children:
                    emit(dag.nodes[child], indent)
            elif shape == "task":
                lines.append(f'{indent}{mid(node.id)}["{label}"]')
            else:
                assert_never(shape)

        for node in dag.nodes.values():
            if node.parent is None:
                emit(node, indent)
        for node in dag.nodes.values():
            for dep in node.deps:
                edges.append(f"  {mid(dep)} --> {mid(node.id)}")
            if node.guard is not None:
                cases = "/".join(sorted(node.guard[1]))
                edges.append(
                    f'  {mid(node.guard[0])} -- "{_mermaid_text(cases)}" --> {mid(node.id)}'
                )

    draw(Dag.build(definition), "", "  ")
    return "\n".join([*lines, *edges]) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(definition: WorkflowDefinition) -> str:
    """Graphviz ``digraph`` with groups as clusters."""
    lines = [f'digraph "{_dot_text(definition.name)}" {{', "  rankdir=TB;", "  node [shape=box];"]
    edges: list[str] = []
    defaults = definition.defaults

    def draw(dag: Dag, prefix: str, indent: str) -> None:
        def did(step_id: str) -> str:
            return _dot_text(prefix + step_id)

        def emit(node: Node, indent: str) -> None:
            summary = describe_step(node.step, defaults)
            label = _dot_text(node.id) + "\\n" + _dot_text(summary)
            shape = ", shape=diamond" if node.kind.shape == "decision" else ""
            if node.kind.shape == "group":
                lines.append(f'{indent}subgraph "cluster_{did(node.id)}" {{')
                lines.append(f'{indent}  label="{_dot_text(node.id)} ({summary})";')
                lines.append(f'{indent}  "{did(node.id)}" [label="{label}", shape=point];')
                for child in node.children:
                    emit(dag.nodes[child], indent + "  ")
                for body in _body_dags(node, defaults):
                    draw(body, f"{prefix}{node.id}.", indent + "  ")
                lines.append(f"{indent}}}")
            else:
                lines.append(f'{indent}"{did(node.id)}" [label="{label}"{shape}];')
                for child in node.children:
                    emit(dag.nodes[child], indent)

        for node in dag.nodes.values():
            if node.parent is None:
                emit(node, indent)
        for node in dag.nodes.values():
            for dep in node.deps:
                edges.append(f'  "{did(dep)}" -> "{did(node.id)}";')
            if node.guard is not None:
                cases = "/".join(sorted(node.guard[1]))
                edges.append(
                    f'  "{did(node.guard[0])}" -> "{did(node.id)}" '
                    f'[label="{_dot_text(cases)}", style=dashed];'
                )

    draw(Dag.build(definition), "", "  ")
    return "\n".join([*lines, *edges, "}"]) + "\n"

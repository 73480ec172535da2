"""Pictures of a workflow's DAG: Mermaid (for the Web UI and Markdown) and Graphviz dot."""

from __future__ import annotations

import re
from typing import assert_never

from interpreter.dag import Dag, Node
from interpreter.models import WorkflowDefinition
from interpreter.steps import describe_step

__all__ = ["to_dot", "to_mermaid"]


def _mermaid_id(step_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", step_id)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(definition: WorkflowDefinition) -> str:
    """A ``flowchart TD`` with groups as subgraphs and branch cases as labelled edges."""
    dag = Dag.build(definition)
    lines = ["flowchart TD"]

    def emit(node: Node, indent: str) -> None:
        mid = _mermaid_id(node.id)
        summary = describe_step(node.step, definition.defaults)
        label = _mermaid_text(f"{node.id}<br/>{summary}")
        shape = node.kind.shape
        if shape == "group":
            lines.append(f'{indent}subgraph {mid}["{_mermaid_text(node.id)} ({summary})"]')
            for child in node.children:
                emit(dag.nodes[child], indent + "  ")
            lines.append(f"{indent}end")
        elif shape == "decision":
            lines.append(f'{indent}{mid}{{"{label}"}}')
            for child in node.children:
                emit(dag.nodes[child], indent)
        elif shape == "task":
            lines.append(f'{indent}{mid}["{label}"]')
        else:
            assert_never(shape)

    for node in dag.nodes.values():
        if node.parent is None:
            emit(node, "  ")
    for node in dag.nodes.values():
        for dep in node.deps:
            lines.append(f"  {_mermaid_id(dep)} --> {_mermaid_id(node.id)}")
        if node.guard is not None:
            cases = "/".join(sorted(node.guard[1]))
            lines.append(
                f'  {_mermaid_id(node.guard[0])} -- "{_mermaid_text(cases)}" --> '
                f"{_mermaid_id(node.id)}"
            )
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(definition: WorkflowDefinition) -> str:
    """Graphviz ``digraph`` with groups as clusters."""
    dag = Dag.build(definition)
    lines = [f'digraph "{_dot_text(definition.name)}" {{', "  rankdir=TB;", "  node [shape=box];"]

    def emit(node: Node, indent: str) -> None:
        summary = describe_step(node.step, definition.defaults)
        label = _dot_text(node.id) + "\\n" + _dot_text(summary)
        shape = ", shape=diamond" if node.kind.shape == "decision" else ""
        if node.kind.shape == "group":
            lines.append(f'{indent}subgraph "cluster_{_dot_text(node.id)}" {{')
            lines.append(f'{indent}  label="{_dot_text(node.id)} ({summary})";')
            lines.append(f'{indent}  "{_dot_text(node.id)}" [label="{label}", shape=point];')
            for child in node.children:
                emit(dag.nodes[child], indent + "  ")
            lines.append(f"{indent}}}")
        else:
            lines.append(f'{indent}"{_dot_text(node.id)}" [label="{label}"{shape}];')
            for child in node.children:
                emit(dag.nodes[child], indent)

    for node in dag.nodes.values():
        if node.parent is None:
            emit(node, "  ")
    for node in dag.nodes.values():
        for dep in node.deps:
            lines.append(f'  "{_dot_text(dep)}" -> "{_dot_text(node.id)}";')
        if node.guard is not None:
            cases = "/".join(sorted(node.guard[1]))
            lines.append(
                f'  "{_dot_text(node.guard[0])}" -> "{_dot_text(node.id)}" '
                f'[label="{_dot_text(cases)}", style=dashed];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"

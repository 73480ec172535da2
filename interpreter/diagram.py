"""Pictures of a workflow's DAG: Mermaid (for the Web UI and Markdown) and Graphviz dot."""

from __future__ import annotations

import re

from interpreter.dag import Dag, Node
from interpreter.models import (
    ActionStep,
    AnyStep,
    BranchStep,
    EmbedStep,
    LlmStep,
    TransformStep,
    VectorSearchStep,
    WorkflowDefinition,
)

__all__ = ["describe_step", "to_dot", "to_mermaid"]


def describe_step(step: AnyStep, definition: WorkflowDefinition | None = None) -> str:
    """What a step does in a few words, e.g. ``llm openai/gpt-4o-mini``."""
    defaults = definition.defaults if definition else None
    if isinstance(step, LlmStep):
        provider = step.provider or (defaults.provider if defaults else None) or "default"
        model = step.model or (defaults.model if defaults else None) or "default"
        return f"llm {provider}/{model}"
    if isinstance(step, EmbedStep):
        provider = step.provider or (defaults.embedding_provider if defaults else None) or "default"
        return f"embed {provider}/{step.model or 'default'}"
    if isinstance(step, VectorSearchStep):
        return f"vector_search {step.database}/{step.index}"
    if isinstance(step, TransformStep):
        return f"transform {step.function}" if step.function else "transform template"
    if isinstance(step, ActionStep):
        return f"action {step.action}"
    if isinstance(step, BranchStep):
        return "branch"
    return "parallel"


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
        label = _mermaid_text(f"{node.id}<br/>{describe_step(node.step, definition)}")
        if node.children and not isinstance(node.step, BranchStep):
            lines.append(f'{indent}subgraph {mid}["{_mermaid_text(node.id)} (parallel)"]')
            for child in node.children:
                emit(dag.nodes[child], indent + "  ")
            lines.append(f"{indent}end")
        elif isinstance(node.step, BranchStep):
            lines.append(f'{indent}{mid}{{"{label}"}}')
            for child in node.children:
                emit(dag.nodes[child], indent)
        else:
            lines.append(f'{indent}{mid}["{label}"]')

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
        label = _dot_text(f"{node.id}\\n{describe_step(node.step, definition)}")
        shape = ", shape=diamond" if isinstance(node.step, BranchStep) else ""
        if node.children and not isinstance(node.step, BranchStep):
            lines.append(f'{indent}subgraph "cluster_{_dot_text(node.id)}" {{')
            lines.append(f'{indent}  label="{_dot_text(node.id)} (parallel)";')
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

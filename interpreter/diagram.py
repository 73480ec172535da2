"""Pictures of a workflow's DAG: Mermaid (for the Web UI and Markdown) and Graphviz dot.

One walk (:func:`_walk`) says what to draw; the two formats only spell it. Groups
(`parallel`, and the bodies of `map` and `loop`) are drawn as subgraphs; body steps get
ids prefixed with their step's (``refine.draft``), since a body is its own namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from interpreter.dag import Dag, Node
from interpreter.models import Defaults, WorkflowDefinition
from interpreter.steps import AnyStep, Shape, describe_step

__all__ = ["to_dot", "to_mermaid"]


@dataclass(frozen=True, slots=True)
class _Item:
    """One thing to draw, in drawing order."""

    what: Literal["node", "open", "close", "edge"]
    id: str = ""
    """The drawn id (prefixed inside bodies)."""
    name: str = ""
    """The step id as written."""
    summary: str = ""
    shape: Shape = "task"
    depth: int = 0
    target: str = ""
    """For an edge: where it goes (``id`` is where it starts)."""
    cases: str = ""
    """For an edge from a branch: the cases that lead along it."""


def _walk(definition: WorkflowDefinition) -> Iterator[_Item]:
    defaults = definition.defaults
    edges: list[_Item] = []

    def graph(dag: Dag, prefix: str, depth: int) -> Iterator[_Item]:
        def node(n: Node, depth: int) -> Iterator[_Item]:
            summary = describe_step(n.step, defaults)
            shape = n.kind.shape
            drawn = prefix + n.id
            if shape == "group":
                yield _Item("open", drawn, n.id, summary, shape, depth)
                for child in n.children:
                    yield from node(dag.nodes[child], depth + 1)
                for body in n.kind.bodies(n.step):
                    yield from graph(_dag_of(list(body.steps), defaults), f"{drawn}.", depth + 1)
                yield _Item("close", drawn, n.id, summary, shape, depth)
            else:
                yield _Item("node", drawn, n.id, summary, shape, depth)
                for child in n.children:
                    yield from node(dag.nodes[child], depth)

        for n in dag.nodes.values():
            if n.parent is None:
                yield from node(n, depth)
        for n in dag.nodes.values():
            for dep in n.deps:
                edges.append(_Item("edge", prefix + dep, target=prefix + n.id))
            if n.guard is not None:
                cases = "/".join(sorted(n.guard[1]))
                edges.append(_Item("edge", prefix + n.guard[0], target=prefix + n.id, cases=cases))

    yield from graph(Dag.build(definition), "", 1)
    yield from edges


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
    for item in _walk(definition):
        indent = "  " * item.depth
        mid = _mermaid_id(item.id)
        label = _mermaid_text(f"{item.name}<br/>{item.summary}")
        if item.what == "open":
            lines.append(f'{indent}subgraph {mid}["{_mermaid_text(item.name)} ({item.summary})"]')
        elif item.what == "close":
            lines.append(f"{indent}end")
        elif item.what == "node" and item.shape == "decision":
            lines.append(f'{indent}{mid}{{"{label}"}}')
        elif item.what == "node":
            lines.append(f'{indent}{mid}["{label}"]')
        elif item.cases:
            lines.append(f'  {mid} -- "{_mermaid_text(item.cases)}" --> {_mermaid_id(item.target)}')
        else:
            lines.append(f"  {mid} --> {_mermaid_id(item.target)}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(definition: WorkflowDefinition) -> str:
    """Graphviz ``digraph`` with groups as clusters."""
    lines = [f'digraph "{_dot_text(definition.name)}" {{', "  rankdir=TB;", "  node [shape=box];"]
    for item in _walk(definition):
        indent = "  " * item.depth
        did = _dot_text(item.id)
        label = _dot_text(item.name) + "\\n" + _dot_text(item.summary)
        if item.what == "open":
            lines.append(f'{indent}subgraph "cluster_{did}" {{')
            lines.append(f'{indent}  label="{_dot_text(item.name)} ({item.summary})";')
            lines.append(f'{indent}  "{did}" [label="{label}", shape=point];')
        elif item.what == "close":
            lines.append(f"{indent}}}")
        elif item.what == "node":
            shape = ", shape=diamond" if item.shape == "decision" else ""
            lines.append(f'{indent}"{did}" [label="{label}"{shape}];')
        elif item.cases:
            lines.append(
                f'  "{did}" -> "{_dot_text(item.target)}" '
                f'[label="{_dot_text(item.cases)}", style=dashed];'
            )
        else:
            lines.append(f'  "{did}" -> "{_dot_text(item.target)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"

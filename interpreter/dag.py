"""The step graph: every step as a node with its edges resolved (no Temporal imports here).

Every step, including those nested in ``parallel`` groups and ``branch`` cases, is a
:class:`Node`. A node waits for

* its ``depends_on`` steps, combined by its ``trigger_rule``;
* its container: a ``parallel`` group must have started (children run inside it),
  an inline ``branch`` case must have been chosen;
* its guard: a step named by a ``branch`` case runs only if that case was chosen.

Containers finish when all their children are terminal. The scheduler that walks
the graph is :mod:`interpreter.scheduler`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from interpreter.models import WorkflowDefinition
from interpreter.steps import AnyKind, AnyStep, kind_of

__all__ = ["Dag", "Node", "find_cycle"]


@dataclass(frozen=True, slots=True)
class Node:
    """One step in the graph, with its edges resolved."""

    id: str
    step: AnyStep
    loc: tuple[str | int, ...]
    deps: tuple[str, ...]
    parent: str | None = None
    guard: tuple[str, frozenset[str]] | None = None
    children: tuple[str, ...] = ()

    @property
    def kind(self) -> AnyKind:
        return kind_of(self.step)


@dataclass(slots=True)
class Dag:
    """All steps of a definition, flattened, with parents, guards and dependents."""

    nodes: dict[str, Node]
    dependents: dict[str, list[str]]
    duplicates: list[tuple[str, tuple[str | int, ...], tuple[str | int, ...]]] = field(
        default_factory=list
    )
    """(id, first loc, second loc) for every id defined twice; the second one is dropped."""
    branch_targets: list[tuple[str, str, str, tuple[str | int, ...]]] = field(default_factory=list)
    """(branch id, case, target id, loc of the reference) for id references in branch cases."""
    _before_start: dict[str, int] | None = field(default=None, repr=False, compare=False)
    """Per step, a bitmask (bit i = i-th node) of the steps done before it starts; lazy."""
    _bits: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, definition: WorkflowDefinition) -> Dag:
        nodes: dict[str, Node] = {}
        duplicates: list[tuple[str, tuple[str | int, ...], tuple[str | int, ...]]] = []
        targets: list[tuple[str, str, str, tuple[str | int, ...]]] = []

        def add(
            step: AnyStep,
            loc: tuple[str | int, ...],
            parent: str | None,
            guard: tuple[str, frozenset[str]] | None,
        ) -> None:
            if step.id in nodes:
                duplicates.append((step.id, nodes[step.id].loc, loc))
                return
            children: list[str] = []
            nodes[step.id] = Node(
                step.id, step, loc, tuple(dict.fromkeys(step.depends_on)), parent, guard
            )
            inline: dict[str, set[str]] = {}
            for nested in kind_of(step).nested(step):
                item_loc = (*loc, *nested.loc)
                item = nested.item
                if isinstance(item, str):
                    targets.append((step.id, nested.case or "", item, item_loc))
                    continue
                if nested.case is None:
                    if item.id not in nodes:
                        children.append(item.id)
                    add(item, item_loc, step.id, None)  # a second definition is reported
                    continue
                # the same inline step under several cases is one step, not a duplicate
                inline.setdefault(item.id, set()).add(nested.case)
                if item.id not in nodes:
                    children.append(item.id)
                    add(item, item_loc, step.id, (step.id, frozenset([nested.case])))
            # an inline step listed under two cases runs for either
            for child_id, child_cases in inline.items():
                node = nodes.get(child_id)
                if node and node.parent == step.id and len(child_cases) > 1:
                    nodes[child_id] = _replace(node, guard=(step.id, frozenset(child_cases)))
            if children:
                nodes[step.id] = _replace(nodes[step.id], children=tuple(children))

        for i, step in enumerate(definition.steps):
            add(step, ("steps", i), None, None)

        # a step named by branch cases is guarded by that branch (first branch wins;
        # validation reports a step claimed by two branches)
        guards: dict[str, tuple[str, set[str]]] = {}
        for branch_id, case, target, _ in targets:
            if target in nodes and target != branch_id:
                owner = guards.setdefault(target, (branch_id, set()))
                if owner[0] == branch_id:
                    owner[1].add(case)
        for target, (branch_id, cases) in guards.items():
            guard = nodes[target].guard
            if guard is None:
                nodes[target] = _replace(nodes[target], guard=(branch_id, frozenset(cases)))
            elif guard[0] == branch_id:
                # inline under one case and named by id under others: it runs for any of them
                nodes[target] = _replace(nodes[target], guard=(branch_id, guard[1] | cases))

        dependents: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for node in nodes.values():
            for upstream in _upstream(node):
                if upstream in dependents and node.id not in dependents[upstream]:
                    dependents[upstream].append(node.id)
            if node.parent is not None:
                # the parent re-checks completion when a child changes
                dependents[node.id].append(node.parent)
        return cls(nodes, dependents, duplicates, targets)

    # --- graph queries -------------------------------------------------------------

    def enclosing(self, node_id: str) -> list[str]:
        """Containers around ``node_id``, innermost first (they finish after it)."""
        out: list[str] = []
        parent = self.nodes[node_id].parent
        while parent is not None:
            out.append(parent)
            parent = self.nodes[parent].parent
        return out

    def ancestors(self, node_id: str) -> set[str]:
        """Steps guaranteed to have finished (or been skipped) before ``node_id`` starts.

        A guarding branch counts (its choice is made before its targets start);
        enclosing containers do not, they finish after their children.
        """
        mask = self._ancestor_mask(node_id)
        return {other for i, other in enumerate(self.nodes) if mask >> i & 1}

    def is_ancestor(self, node_id: str, other: str) -> bool:
        """``other in self.ancestors(node_id)``, without building the set."""
        if other not in self.nodes:
            return False
        return bool(self._ancestor_mask(node_id) >> self._bits[other] & 1)

    def _ancestor_mask(self, node_id: str) -> int:
        if self._before_start is None:
            self._bits = {step_id: i for i, step_id in enumerate(self.nodes)}
            self._before_start = self._ancestry()
        mask = self._before_start[node_id]
        for container in (node_id, *self.enclosing(node_id)):
            mask &= ~(1 << self._bits[container])
        return mask

    def _ancestry(self) -> dict[str, int]:
        """Bitmasks of what precedes each step's start, in one pass over the graph.

        Two values per step, as in :func:`find_cycle`: *start* = everything its
        dependencies' finish implies, plus its parent's and guard's start; *finish* =
        itself, its start, and the finish of each child (a finished container implies
        finished children).
        """
        bit = {node_id: 1 << i for i, node_id in enumerate(self.nodes)}
        values: dict[tuple[str, str], int] = {}

        def inputs(key: tuple[str, str]) -> list[tuple[str, str]]:
            node = self.nodes[key[0]]
            if key[1] == "finish":
                return [(key[0], "start"), *((child, "finish") for child in node.children)]
            out = [(dep, "finish") for dep in node.deps if dep in self.nodes]
            for container in (node.parent, node.guard[0] if node.guard else None):
                if container is not None and container in self.nodes:
                    out.append((container, "start"))
            return out

        def combine(key: tuple[str, str]) -> int:
            node_id, phase = key
            if phase == "finish":
                mask = bit[node_id] | values[(node_id, "start")]
                for child in self.nodes[node_id].children:
                    mask |= values.get((child, "finish"), 0)
                return mask
            mask = 0
            for upstream, upstream_phase in inputs(key):
                value = values.get((upstream, upstream_phase), 0)
                mask |= value | (bit[upstream] if upstream_phase == "start" else 0)
            return mask

        for root in self.nodes:
            if (root, "finish") in values:
                continue
            stack = [((root, "finish"), iter(inputs((root, "finish"))))]
            on_stack = {(root, "finish")}
            while stack:
                key, pending = stack[-1]
                nxt = next((k for k in pending if k not in values and k not in on_stack), None)
                if nxt is None:
                    stack.pop()
                    on_stack.discard(key)
                    values[key] = combine(key)
                else:  # a cycle (reported by validation) just contributes nothing
                    on_stack.add(nxt)
                    stack.append((nxt, iter(inputs(nxt))))
        return {node_id: values[(node_id, "start")] for node_id in self.nodes}


def _replace(node: Node, **changes: object) -> Node:
    values = {name: getattr(node, name) for name in Node.__slots__}
    values.update(changes)
    return Node(**values)


def _upstream(node: Node) -> Iterator[str]:
    yield from node.deps
    if node.parent is not None:
        yield node.parent
    if node.guard is not None and node.guard[0] != node.parent:
        yield node.guard[0]


def find_cycle(dag: Dag) -> list[str] | None:
    """A dependency cycle as ``[a, b, c, a]`` (a waits for b ...), or ``None``.

    Containers count twice: children wait for the container to *start*, while
    anything depending on the container waits for it to *finish*, i.e. for its
    children. So a child that depends on its own group is a cycle ``child → group → child``.
    """

    def edges(key: tuple[str, str]) -> list[tuple[str, str]]:
        node_id, phase = key
        node = dag.nodes[node_id]
        out: list[tuple[str, str]] = []
        if phase == "finish" and node.children:
            out.append((node_id, "start"))
            out.extend((child, "finish") for child in node.children)
            return out
        out.extend((dep, "finish") for dep in node.deps if dep in dag.nodes)
        if node.parent is not None:
            out.append((node.parent, "start"))
        if node.guard is not None and node.guard[0] != node.parent and node.guard[0] in dag.nodes:
            out.append((node.guard[0], "start"))
        return out

    color: dict[tuple[str, str], int] = {}
    for root in dag.nodes:
        start = (root, "finish")
        if color.get(start):
            continue
        path: list[tuple[str, str]] = [start]
        iters = [iter(edges(start))]
        color[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                color[path.pop()] = 2
                iters.pop()
                continue
            if color.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                ids: list[str] = []
                for node_id, _ in cycle:
                    if not ids or ids[-1] != node_id:
                        ids.append(node_id)
                return ids if len(ids) > 1 else [*ids, ids[0]]
            if not color.get(nxt):
                color[nxt] = 1
                path.append(nxt)
                iters.append(iter(edges(nxt)))
    return None

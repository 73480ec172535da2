"""The step graph and the pure scheduler that walks it (no Temporal imports here).

Every step, including those nested in ``parallel`` groups and ``branch`` cases, is a
:class:`Node`. A node waits for

* its ``depends_on`` steps, combined by its ``trigger_rule``;
* its container: a ``parallel`` group must have started (children run inside it),
  an inline ``branch`` case must have been chosen;
* its guard: a step named by a ``branch`` case runs only if that case was chosen.

Containers finish when all their children are terminal. :class:`Scheduler` keeps
the statuses and, on each event, re-examines only the neighbours of what changed,
so a run of *n* steps costs O(n + edges) in total.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from interpreter.models import (
    AnyStep,
    BranchStep,
    ParallelStep,
    TriggerRule,
    WorkflowDefinition,
)

__all__ = ["Dag", "Decision", "Node", "Scheduler", "Status", "find_cycle"]


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.SKIPPED, Status.FAILED)


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
    def is_container(self) -> bool:
        return isinstance(self.step, ParallelStep | BranchStep)


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
            if isinstance(step, ParallelStep):
                for i, child in enumerate(step.steps):
                    if child.id not in nodes:
                        children.append(child.id)
                    add(child, (*loc, "steps", i), step.id, None)
            elif isinstance(step, BranchStep):
                cases = (
                    {**step.branches, "default": step.default}
                    if step.default
                    else dict(step.branches)
                )
                inline: dict[str, set[str]] = {}
                for case, items in cases.items():
                    key = "default" if (case == "default" and step.default) else "branches"
                    for i, item in enumerate(items):
                        item_loc = (*loc, key, i) if key == "default" else (*loc, key, case, i)
                        if isinstance(item, str):
                            targets.append((step.id, case, item, item_loc))
                        else:
                            inline.setdefault(item.id, set()).add(case)
                            if item.id not in nodes:
                                children.append(item.id)
                                add(item, item_loc, step.id, (step.id, frozenset([case])))
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
            if nodes[target].guard is None:
                nodes[target] = _replace(nodes[target], guard=(branch_id, frozenset(cases)))

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

    def topological_order(self) -> list[str]:
        """Step ids in an order where every step follows what it waits for."""
        order: list[str] = []
        state: dict[str, int] = {}

        for root in self.nodes:
            if root in state:
                continue
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(self._before(root)))]
            state[root] = 1
            while stack:
                current, it = stack[-1]
                nxt = next((n for n in it if state.get(n) != 2), None)
                if nxt is None:
                    stack.pop()
                    state[current] = 2
                    order.append(current)
                elif state.get(nxt) != 1:
                    state[nxt] = 1
                    stack.append((nxt, iter(self._before(nxt))))
        return order

    def _before(self, node_id: str) -> Iterable[str]:
        node = self.nodes[node_id]
        yield from (u for u in _upstream(node) if u in self.nodes)

    def roots(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.parent is None]


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


@dataclass(slots=True)
class Decision:
    """What changed after an event: steps to start, steps skipped, containers finished."""

    start: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    finished: list[tuple[str, Status]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.start or self.skipped or self.finished)


class Scheduler:
    """Pure, incremental scheduler over a :class:`Dag`.

    The caller starts what :attr:`Decision.start` lists, then reports back with
    :meth:`running`, :meth:`finish` or :meth:`choose` (for branches), each of which
    returns the next :class:`Decision`. Containers are started like any step
    (report :meth:`running`); the scheduler finishes them itself.
    """

    def __init__(self, dag: Dag) -> None:
        self.dag = dag
        self.status: dict[str, Status] = dict.fromkeys(dag.nodes, Status.PENDING)
        self.choices: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self._offered: set[str] = set()
        self._active_children: dict[str, int] = {}

    @property
    def done(self) -> bool:
        return all(status.terminal for status in self.status.values())

    def initial(self) -> Decision:
        return self._settle([n for n in self.dag.nodes])

    def running(self, node_id: str) -> Decision:
        self.status[node_id] = Status.RUNNING
        return self._settle(self._neighbours(node_id))

    def choose(self, branch_id: str, case: str) -> Decision:
        """Record a branch's chosen case (the branch must be running)."""
        self.choices[branch_id] = case
        return self._settle([*self._neighbours(branch_id), branch_id])

    def finish(self, node_id: str, status: Status, reason: str = "") -> Decision:
        """Record a step's end (completed, failed or skipped by its `when`)."""
        self._set_terminal(node_id, status, self.status[node_id])
        if reason:
            self.reasons[node_id] = reason
        return self._settle(self._neighbours(node_id))

    def _set_terminal(self, node_id: str, status: Status, previous: Status) -> None:
        self.status[node_id] = status
        parent = self.dag.nodes[node_id].parent
        if parent is not None and node_id in self._offered and not previous.terminal:
            self._active_children[parent] -= 1

    def _neighbours(self, node_id: str) -> list[str]:
        node = self.dag.nodes[node_id]
        out = list(self.dag.dependents[node_id])
        if node.parent is not None and self._limit(node.parent) is not None:
            out.extend(self.dag.nodes[node.parent].children)
        return out

    def _limit(self, container: str) -> int | None:
        step = self.dag.nodes[container].step
        return step.max_concurrency if isinstance(step, ParallelStep) else None

    def _settle(self, candidates: Sequence[str]) -> Decision:
        decision = Decision()
        work = deque(candidates)
        seen_in_pass: set[str] = set()
        while work:
            node_id = work.popleft()
            status = self.status[node_id]
            node = self.dag.nodes[node_id]
            if status == Status.PENDING and node_id not in self._offered:
                verdict, reason = self._evaluate(node)
                if verdict == "skip":
                    self.status[node_id] = Status.SKIPPED
                    self.reasons[node_id] = reason
                    decision.skipped.append((node_id, reason))
                    work.extend(self._neighbours(node_id))
                elif verdict == "ready":
                    self._offered.add(node_id)
                    decision.start.append(node_id)
                    if node.parent is not None:
                        # counted from the offer on, so one settle cannot over-commit a group
                        self._active_children[node.parent] = (
                            self._active_children.get(node.parent, 0) + 1
                        )
            elif status == Status.RUNNING and node.children and node_id not in seen_in_pass:
                finished = self._container_result(node)
                if finished is not None:
                    seen_in_pass.add(node_id)
                    self._set_terminal(node_id, finished, status)
                    decision.finished.append((node_id, finished))
                    work.extend(self._neighbours(node_id))
            elif (
                status == Status.RUNNING
                and isinstance(node.step, BranchStep)
                and not node.children
                and node_id in self.choices
            ):
                self._set_terminal(node_id, Status.COMPLETED, status)
                decision.finished.append((node_id, Status.COMPLETED))
                work.extend(self._neighbours(node_id))
        return decision

    def _evaluate(self, node: Node) -> tuple[str, str]:
        status = self.status
        if node.parent is not None:
            parent_status = status[node.parent]
            if parent_status in (Status.SKIPPED, Status.FAILED):
                return "skip", f"`{node.parent}` was {parent_status.value}"
            if parent_status == Status.PENDING:
                return "wait", ""
        if node.guard is not None:
            branch_id, cases = node.guard
            if status[branch_id] in (Status.SKIPPED, Status.FAILED):
                return "skip", f"branch `{branch_id}` was {status[branch_id].value}"
            choice = self.choices.get(branch_id)
            if choice is None:
                return "wait", ""
            if choice not in cases:
                return "skip", f"branch `{branch_id}` chose `{choice}`"
        deps = [status[d] for d in node.deps if d in status]
        rule = node.step.trigger_rule
        if rule == TriggerRule.ALL_SUCCESS:
            for dep_id in node.deps:
                dep_status = status.get(dep_id)
                if dep_status in (Status.SKIPPED, Status.FAILED):
                    return "skip", f"dependency `{dep_id}` was {dep_status.value}"
            if not all(s == Status.COMPLETED for s in deps):
                return "wait", ""
        else:
            if not all(s.terminal for s in deps):
                return "wait", ""
            if rule == TriggerRule.ONE_SUCCESS and deps and Status.COMPLETED not in deps:
                return "skip", "no dependency completed (trigger_rule one_success)"
        if node.parent is not None:
            limit = self._limit(node.parent)
            if limit is not None and self._active_children.get(node.parent, 0) >= limit:
                return "wait", ""
        return "ready", ""

    def _container_result(self, node: Node) -> Status | None:
        children = [self.status[c] for c in node.children]
        if not all(s.terminal for s in children):
            return None
        if isinstance(node.step, BranchStep) and node.id not in self.choices:
            return None
        return Status.COMPLETED

"""What a run derives from its definition, prepared once per definition, not per run.

Every run, and every replay of it after the worker's workflow cache evicted it,
needs its definition checked (:func:`~interpreter.loader.load_definition`: 0.2 ms
for 3 steps, 100 ms for 500), its graph built, its diagram drawn and each step's
activity summary worded. All of that is a pure function of the definition, so it is
computed once per distinct definition and shared, in a small LRU keyed by a hash of
the canonical definition (or of the catalog activity's result that pinned it). A
module-level cache is possible because `DagWorkflow` runs unsandboxed, and replays
stay deterministic because a hit returns exactly what a miss would compute.

What is shared is never changed by a run: :class:`~interpreter.dag.Dag` nodes are
frozen (its lazy ancestry memo is itself a pure function of the graph), the
definition's models are only read, and each run's :class:`~interpreter.scheduler.Scheduler`
keeps every step's state in dictionaries of its own
(``tests/interpreter/test_determinism.py`` checks two runs share no state).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from interpreter.dag import Dag
from interpreter.diagram import to_mermaid
from interpreter.loader import load_definition
from interpreter.models import WorkflowDefinition

__all__ = ["MAX_ENTRIES", "Prepared", "clear", "from_catalog", "from_data", "info"]

MAX_ENTRIES = 256
"""Distinct definitions kept; a map's batch children share one per batch size."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked definition and what a run derives from it (shared between runs: read only)."""

    definition: WorkflowDefinition
    dag: Dag
    diagram: str
    """The Mermaid picture of the graph, as the run's current details show it."""
    summaries: Mapping[str, str]
    """Step id → what its kind says about it (``llm openai/gpt-4o-mini``)."""
    library: Mapping[str, dict[str, Any]]
    """The workflows its `workflow` steps name, pinned with it by the catalog (else empty)."""


_cache: OrderedDict[str, Prepared] = OrderedDict()
_stats = {"hits": 0, "misses": 0}
_lock = threading.Lock()
"""The SDK activates the workflows of different runs on a thread pool."""


def from_data(
    data: Mapping[str, Any], *, outer: Iterable[str] = (), roots: Iterable[str] = ()
) -> Prepared:
    """A start input's ``definition`` checked by the loader (raises its
    :class:`~interpreter.errors.WorkflowDefinitionError`); ``outer``/``roots`` as there."""
    outer, roots = sorted(outer), sorted(roots)
    text = json.dumps([data, outer, roots], sort_keys=True, separators=(",", ":"), default=str)
    key = "data:" + hashlib.sha256(text.encode()).hexdigest()
    return _get(key, lambda: (load_definition(data, "definition", outer=outer, roots=roots), {}))


def from_catalog(
    payload: bytes, decode: Callable[[], tuple[WorkflowDefinition, dict[str, dict[str, Any]]]]
) -> Prepared:
    """The catalog's definition and library, as the `resolve_workflow` activity returned
    them in ``payload`` (its bytes are the key); ``decode`` parses them on a miss."""
    return _get("catalog:" + hashlib.sha256(payload).hexdigest(), decode)


def clear() -> None:
    """Forget every prepared definition (for tests and benchmarks)."""
    with _lock:
        _cache.clear()
        _stats.update(hits=0, misses=0)


def info() -> dict[str, int]:
    """Hits, misses and entries so far (for tests and benchmarks)."""
    return {**_stats, "entries": len(_cache)}


def _get(
    key: str, load: Callable[[], tuple[WorkflowDefinition, dict[str, dict[str, Any]]]]
) -> Prepared:
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            _stats["hits"] += 1
            return found
        _stats["misses"] += 1
    # outside the lock: another run may prepare the same definition meanwhile, which is
    # harmless (equal results); a failure is not cached: the same input fails the same way
    prepared = _prepare(*load())
    with _lock:
        _cache[key] = prepared
        if len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
    return prepared


def _prepare(definition: WorkflowDefinition, library: dict[str, dict[str, Any]]) -> Prepared:
    dag = Dag.build(definition)
    defaults = definition.defaults
    return Prepared(
        definition=definition,
        dag=dag,
        diagram=f"```mermaid\n{to_mermaid(definition)}```",
        summaries={n.id: n.kind.summary(n.step, defaults) for n in dag.nodes.values()},
        library=library,
    )

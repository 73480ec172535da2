"""Template contexts shaped exactly as a run builds them, from sample step results.

Each helper returns ``(primary, extras)`` the way the matching activity does, so
``context_for`` can report them to a real :class:`~interpreter.scheduler.Scheduler`
and read the context the run would derive from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interpreter.context import TemplateContext
from interpreter.dag import Dag
from interpreter.models import WorkflowDefinition
from interpreter.scheduler import Scheduler

Result = tuple[Any, list[Any]]


def llm(text: str, *, model: str = "gpt-4o-mini", tokens: int = 42) -> Result:
    """An llm step's result: (text, model, tokens_used, metadata)."""
    return text, [model, tokens, {"finish_reason": "stop"}]


def embed(vector: list[float], *, model: str = "text-embedding-3-small") -> Result:
    """An embed step's result: (vector, {model, dimensions, tokens_used})."""
    return vector, [{"model": model, "dimensions": len(vector), "tokens_used": 7}]


def search(
    hits: list[dict[str, Any]], *, database: str = "local", index: str = "docs", top_k: int = 5
) -> Result:
    """A vector_search step's result: (hits, {count, top_k, database, index})."""
    meta = {"count": len(hits), "top_k": top_k, "database": database, "index": index}
    return hits, [meta]


def hit(doc_id: str, score: float, text: str, **metadata: Any) -> dict[str, Any]:
    return {"id": doc_id, "score": score, "metadata": {"text": text, **metadata}, "text": text}


def context_for(
    definition: WorkflowDefinition,
    inputs: Mapping[str, Any],
    results: Mapping[str, Result],
) -> dict[str, Any]:
    """The context a step sees once the steps in ``results`` have completed."""
    scheduler = Scheduler(Dag.build(definition))
    for step_id, (primary, extras) in results.items():
        scheduler.complete(step_id, primary, extras=extras)
    return TemplateContext(inputs, scheduler).data

"""Template contexts shaped exactly as a run builds them, from sample step results.

Each helper returns ``(primary, extras)`` the way the matching activity does, so
``context_for`` can bind a step's ``output:`` names positionally through
:func:`interpreter.context.bind_outputs` and build the context with
:func:`interpreter.context.build_context`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interpreter.context import bind_outputs, build_context
from interpreter.contract import StepRecord
from interpreter.dag import Dag
from interpreter.models import WorkflowDefinition

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
    nodes = Dag.build(definition).nodes
    records = {}
    for step_id, (primary, extras) in results.items():
        step = nodes[step_id].step
        records[step_id] = StepRecord(
            id=step_id,
            type=step.type,
            status="completed",
            output=primary,
            outputs=bind_outputs(step.output, primary, extras),
        )
    return build_context(inputs, records)

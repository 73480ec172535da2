"""The `vector_search` step: check the index, embed a text query, query, shape refusals.

The store comes from the worker's :class:`~activities.vectorstores.registry.Stores`;
a missing embedded index (``local``, ``memory``) is built once from the worker's
docs directory when it has one. Every refusal becomes a non-retryable
:class:`~interpreter.errors.StepError` that names the step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from activities._heartbeat import heartbeating
from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexMismatch,
    IndexNotFound,
    StoreError,
    VectorStore,
)
from activities.vectorstores.filters import parse
from activities.vectorstores.ingest import Embedder, check_compatible, discover, index_documents
from interpreter.errors import StepError
from interpreter.steps.vector_search import VectorSearchCall

if TYPE_CHECKING:
    from activities.vectorstores.registry import Stores

__all__ = ["search"]

log = logging.getLogger(__name__)


async def search(
    stores: Stores, step: VectorSearchCall, embedder_for: Callable[[str], Embedder]
) -> list[Hit]:
    """Run ``step`` (rendered) against ``stores``; ``embedder_for`` gives the embedder for a
    ``provider/model`` name."""
    try:
        # no stream to watch here: heartbeat throughout (a first search may build the index)
        async with heartbeating():
            return await _search(stores, step, embedder_for)
    except StoreError as exc:
        raise StepError(step.id, str(exc), error_type=exc.error_type) from None
    except StepError as exc:
        if exc.step_id == step.id:
            raise
        # a backend that reports with a placeholder step id
        message = str(exc).split(": ", 1)[-1]
        raise StepError(step.id, message, error_type=exc.error_type) from None
    except ValueError as exc:  # a malformed store URI
        raise StepError(step.id, str(exc)) from None


async def _search(
    stores: Stores, step: VectorSearchCall, embedder_for: Callable[[str], Embedder]
) -> list[Hit]:
    parse(step.filter)  # a bad filter fails before any I/O
    store = await stores.open(step.database)
    info = await _describe(store, step.index)
    if info is None and hasattr(store, "describe"):
        async with stores.lock(step.database, step.index):  # concurrent runs build it once
            info = await store.describe(step.index) or await _seed(
                stores, step, store, embedder_for
            )
    query = await _query_vector(step, info, embedder_for)
    if info is not None and len(query) != info.dimension:
        built = f" (built with {info.embedder})" if info.embedder else ""
        raise IndexMismatch(
            f"the query has {len(query)} dimensions but index `{step.index}` holds "
            f"{info.dimension}-dimensional vectors{built}; embed the query with the "
            "index's embedder"
        )
    return await store.query(
        step.index, query, top_k=step.top_k, filter=step.filter, namespace=step.namespace
    )


async def _query_vector(
    step: VectorSearchCall, info: IndexInfo | None, embedder_for: Callable[[str], Embedder]
) -> list[float]:
    """The step's query as a vector: given, written as JSON, or a text embedded with the
    embedder the index was built with."""
    query = step.query
    if not isinstance(query, str):
        return list(query)
    text = query.strip()
    if text.startswith("["):
        try:
            return [float(x) for x in json.loads(text)]
        except (ValueError, TypeError):
            raise StoreError(f"query looks like a vector but is not: {text[:80]}") from None
    name = step.embedder or (info.embedder if info else None)
    if name is None:
        raise StoreError(
            f"index `{step.index}` does not record its embedder; set `embedder: "
            "provider/model` on the step to embed a text query"
        )
    embedder = embedder_for(name)
    if info is not None:
        check_compatible(step.index, info, dimension=None, embedder=embedder.name)
    return (await embedder.embed([text]))[0]


async def _describe(store: VectorStore, index: str) -> IndexInfo | None:
    # a backend without `describe` cannot be checked: its own errors will have to do
    describe = getattr(store, "describe", None)
    return await describe(index) if describe is not None else None


async def _seed(
    stores: Stores,
    step: VectorSearchCall,
    store: VectorStore,
    embedder_for: Callable[[str], Embedder],
) -> IndexInfo:
    """Build a missing embedded index from the worker's docs directory, if it has one."""
    hint = (
        f"build it with `llm-orchestrator index DOCS... --store {step.database} "
        f"--index {step.index}`"
    )
    if not stores.is_embedded(step.database):
        raise IndexNotFound(f"index `{step.index}` does not exist in `{step.database}`; {hint}")
    docs = stores.docs_dir
    if docs is None or not docs.is_dir() or not step.embedder:
        where = stores.vectors_dir if step.database == "local" else "the in-memory store"
        raise IndexNotFound(f"index `{step.index}` does not exist in {where}; {hint}")
    embedder = embedder_for(step.embedder)
    log.info("building index %s from %s with %s", step.index, docs, embedder.name)
    report = await index_documents(
        store, step.index, discover([docs]), embedder, namespace=step.namespace
    )
    info = await store.describe(step.index)
    if info is None:
        raise IndexNotFound(
            f"index `{step.index}` does not exist and {docs} has no documents; {hint}"
        )
    log.info("indexed %d chunks from %d files", report.embedded, report.files)
    return info

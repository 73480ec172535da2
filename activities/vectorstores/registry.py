"""Which vector store serves a `vector_search` step, per worker, and the search itself.

A step's ``database`` is resolved in this order:

1. a store added with :meth:`Stores.add` (tests, custom wiring);
2. a name configured on the worker: ``LLM_ORCHESTRATOR_VECTORSTORE_<NAME>=URI``
   (``ActivitySettings.vector_stores``);
3. the built-ins: ``local`` — LanceDB in the worker's vectors directory — and
   ``memory`` — a per-worker in-memory store (``offline`` is an old alias);
4. a store URI written in the step itself (``local:PATH``, ``postgresql://...``,
   ``pinecone://HOST``, ``weaviate://HOST:PORT``).

A URI's scheme picks the backend module, imported on first use; each module
exposes ``from_uri(uri, *, env=None) -> VectorStore``. Adding a backend is one
line in :data:`SCHEMES`.

``--offline`` does not change the store: it only routes model calls (and so the
query's embedding) to the offline provider.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexMismatch,
    IndexNotFound,
    StoreError,
    VectorStore,
)
from activities.vectorstores.filters import parse
from activities.vectorstores.ingest import (
    Embedder,
    check_compatible,
    chunk_text,
    discover,
    index_documents,
)
from activities.vectorstores.memory import MemoryStore
from interpreter.errors import StepError
from interpreter.steps.vector_search import VectorSearchCall

__all__ = ["SCHEMES", "Stores", "chunk_text", "default_vectors_dir", "open_store"]

log = logging.getLogger(__name__)

SCHEMES: dict[str, str] = {
    "local": "activities.vectorstores.local:from_uri",
    "memory": "activities.vectorstores.memory:from_uri",
    "postgresql": "activities.vectorstores.pgvector:from_uri",
    "postgres": "activities.vectorstores.pgvector:from_uri",
    "pinecone": "activities.vectorstores.pinecone:from_uri",
    "weaviate": "activities.vectorstores.weaviate:from_uri",
}
"""URI scheme → ``module:function`` that opens a store from the URI."""

_MEMORY_NAMES = ("memory", "offline")
_EMBEDDED = ("local", *_MEMORY_NAMES)


def default_vectors_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ``database: local`` lives: ``$LLM_ORCHESTRATOR_VECTORS``, else
    ``$XDG_STATE_HOME/llm-orchestrator/vectors`` (``~/.local/state/...``)."""
    env = os.environ if env is None else env
    if env.get("LLM_ORCHESTRATOR_VECTORS"):
        return Path(env["LLM_ORCHESTRATOR_VECTORS"]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llm-orchestrator" / "vectors"


def _scheme(uri: str) -> str | None:
    if "://" in uri:
        return uri.split("://", 1)[0].lower()
    if uri.startswith("local:") or uri == "local":
        return "local"
    if uri == "memory":
        return "memory"
    return None


def open_store(uri: str, *, env: Mapping[str, str] | None = None) -> VectorStore:
    """A store for a URI: ``local``, ``local:PATH``, ``memory``, ``postgresql://...``, ..."""
    scheme = _scheme(uri)
    target = SCHEMES.get(scheme or "")
    if target is None:
        raise ValueError(
            f"unknown vector store {uri!r}: use local, local:PATH, memory, or a URI with one "
            f"of the schemes {', '.join(sorted(s for s in SCHEMES if s not in _EMBEDDED))}"
        )
    module_name, _, function = target.partition(":")
    factory: Callable[..., VectorStore] = getattr(importlib.import_module(module_name), function)
    return factory(uri, env=env)


class Stores:
    """The worker's vector stores by database name, opened on first use and shared."""

    def __init__(
        self,
        *,
        vectors_dir: Path | None = None,
        docs_dir: Path | None = None,
        uris: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.vectors_dir = vectors_dir or default_vectors_dir(env)
        self.docs_dir = docs_dir
        self.memory = MemoryStore()
        self._uris = {name.lower(): uri for name, uri in (uris or {}).items()}
        self._env = env
        self._stores: dict[str, VectorStore] = {}
        self._seeding: dict[tuple[str, str], asyncio.Lock] = {}

    def add(self, name: str, store: VectorStore) -> None:
        """Serve ``database: name`` with ``store`` (replaces a configured one)."""
        self._stores[name] = store

    def get(self, database: str) -> VectorStore:
        """The store for a step's ``database`` (see the module docstring for the order)."""
        store = self._stores.get(database)
        if store is not None:
            return store
        configured = self._uris.get(database.lower())
        if configured is not None:
            store = open_store(configured, env=self._env)
        elif database == "local":
            from activities.vectorstores.local import LanceStore  # LanceDB takes a second to import

            store = LanceStore(self.vectors_dir)
        elif database in _MEMORY_NAMES:
            store = self.memory
        elif _scheme(database) is not None:
            store = open_store(database, env=self._env)
        else:
            names = sorted({*_EMBEDDED, *self._uris, *self._stores})
            raise StoreError(
                f"vector database `{database}` is not configured on this worker (configured: "
                f"{', '.join(names)}); set LLM_ORCHESTRATOR_VECTORSTORE_{database.upper()}=URI "
                "on the worker, or write a store URI in `database`"
            )
        self._stores[database] = store
        return store

    async def aclose(self) -> None:
        closed: set[int] = set()
        for store in self._stores.values():
            if id(store) not in closed:
                closed.add(id(store))
                await store.aclose()
        self._stores.clear()

    # --- the vector_search step ------------------------------------------------------

    async def search(
        self, step: VectorSearchCall, embedder_for: Callable[[str], Embedder]
    ) -> list[Hit]:
        """Run ``step`` (rendered): check the index, embed a text query with the index's
        embedder, query. Every refusal is a non-retryable :class:`StepError`."""
        try:
            return await self._search(step, embedder_for)
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
        self, step: VectorSearchCall, embedder_for: Callable[[str], Embedder]
    ) -> list[Hit]:
        parse(step.filter)  # a bad filter fails before any I/O
        store = self.get(step.database)
        info = await self._describe(store, step.index)
        if info is None and hasattr(store, "describe"):
            lock = self._seeding.setdefault((step.database, step.index), asyncio.Lock())
            async with lock:  # concurrent runs build a missing index once
                info = await store.describe(step.index) or await self._seed(
                    step, store, embedder_for
                )
        query = step.query
        if isinstance(query, str):
            text = query.strip()
            if text.startswith("["):
                try:
                    query = [float(x) for x in json.loads(text)]
                except (ValueError, TypeError):
                    raise StoreError(f"query looks like a vector but is not: {text[:80]}") from None
            else:
                name = step.embedder or (info.embedder if info else None)
                if name is None:
                    raise StoreError(
                        f"index `{step.index}` does not record its embedder; set `embedder: "
                        "provider/model` on the step to embed a text query"
                    )
                embedder = embedder_for(name)
                if info is not None:
                    check_compatible(step.index, info, dimension=None, embedder=embedder.name)
                query = (await embedder.embed([text]))[0]
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

    @staticmethod
    async def _describe(store: VectorStore, index: str) -> IndexInfo | None:
        # a backend without `describe` cannot be checked: its own errors will have to do
        describe = getattr(store, "describe", None)
        return await describe(index) if describe is not None else None

    async def _seed(
        self, step: VectorSearchCall, store: VectorStore, embedder_for: Callable[[str], Embedder]
    ) -> IndexInfo:
        """Build a missing embedded index from the worker's docs directory, if it has one."""
        hint = (
            f"build it with `llm-orchestrator index DOCS... --store {step.database} "
            f"--index {step.index}`"
        )
        if step.database not in _EMBEDDED or step.database in self._uris:
            raise IndexNotFound(f"index `{step.index}` does not exist in `{step.database}`; {hint}")
        docs = self.docs_dir
        if docs is None or not docs.is_dir() or not step.embedder:
            where = self.vectors_dir if step.database == "local" else "the in-memory store"
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

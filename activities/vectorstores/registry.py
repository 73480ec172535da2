"""Which vector store serves a database name, per worker.

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
query's embedding) to the offline provider. What a `vector_search` step does with
the store is :mod:`activities.vectorstores.search_step`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path

from activities.settings import default_vectors_dir
from activities.vectorstores.base import StoreError, VectorStore
from activities.vectorstores.memory import MemoryStore

__all__ = ["SCHEMES", "Stores", "open_store"]

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


def _scheme(uri: str) -> str | None:
    if "://" in uri:
        return uri.split("://", 1)[0].lower()
    if uri.startswith(("local:", "local?")) or uri == "local":
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
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

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

    def lock(self, database: str, index: str) -> asyncio.Lock:
        """One lock per index, for work that must happen once (building a missing index)."""
        return self._locks.setdefault((database, index), asyncio.Lock())

    async def open(self, database: str) -> VectorStore:
        """:meth:`get`, opening a new store in a thread: importing LanceDB alone takes
        seconds, and the worker's event loop must keep polling meanwhile."""
        store = self._stores.get(database)
        if store is not None:
            return store
        async with self.lock(database, ""):
            return await asyncio.to_thread(self.get, database)

    def offline_stand_in(self, database: str) -> str | None:
        """For an offline run: ``local`` when ``database`` is a remote store this worker has
        not been configured for (an offline run must not reach outside services)."""
        if database in _EMBEDDED or database.lower() in self._uris or database in self._stores:
            return None
        return "local"

    def is_embedded(self, database: str) -> bool:
        """Is ``database`` a built-in store of this worker (``local``, ``memory``)?"""
        return database in _EMBEDDED and database not in self._uris

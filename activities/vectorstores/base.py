"""The vector store interface every backend implements, and the errors it raises.

A store holds named *indexes* of records (id, vector, text, metadata); each index
is split into *namespaces* (``None`` is the default namespace, ``""``). Similarity
is cosine everywhere and a hit's ``score`` is the cosine similarity
(``1 - cosine distance``), so scores compare across backends. Filters use the
common syntax of :mod:`activities.vectorstores.filters`.

Errors::

    StoreError                 a mistake retrying cannot fix (non-retryable)
     ├── InvalidFilter         the filter is malformed, or this backend cannot express it
     ├── IndexNotFound         the index does not exist
     ├── IndexMismatch         dimension (or embedder) differs from the index's
     └── InvalidIndexName      the name cannot be an index on this backend

Anything else a backend raises (connection refused, timeouts) is left to
Temporal's retry policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Hit",
    "IndexInfo",
    "IndexMismatch",
    "IndexNotFound",
    "InvalidFilter",
    "InvalidIndexName",
    "Record",
    "StoreError",
    "VectorStore",
    "check_index_name",
]


@dataclass(frozen=True)
class Hit:
    """One search result: ``score`` is the cosine similarity to the query."""

    id: str
    score: float
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: list[float] | None = None

    def as_dict(
        self, *, include_metadata: bool = True, include_vector: bool = False
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "text": self.text,
            "metadata": self.metadata if include_metadata else None,
            "vector": self.vector if include_vector else None,
        }


@dataclass(frozen=True)
class Record:
    """What is written: ``text`` may be empty when the text travels in ``metadata["text"]``."""

    id: str
    vector: list[float]
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexInfo:
    """What an index was built with; checked before every write and text query."""

    dimension: int
    embedder: str | None = None
    """``provider/model`` that embedded the documents (``None``: not recorded)."""


class StoreError(Exception):
    """A vector store problem that retrying cannot fix."""

    error_type = "VectorStoreError"


class InvalidFilter(StoreError):
    error_type = "InvalidFilter"


class IndexNotFound(StoreError):
    error_type = "IndexNotFound"


class IndexMismatch(StoreError):
    error_type = "IndexMismatch"


def check_dimensions(index: str, dimension: int, vectors: dict[str, list[float]]) -> None:
    """Raise :class:`IndexMismatch` unless every vector has the index's dimension.

    ``vectors`` maps what each vector is (``record `a```, ``the query``) to it.
    """
    for what, vector in vectors.items():
        if len(vector) != dimension:
            raise IndexMismatch(
                f"{what} has {len(vector)} dimensions but index `{index}` holds "
                f"{dimension}-dimensional vectors"
            )


async def prepare_upsert(store: VectorStore, index: str, records: list[Record]) -> IndexInfo:
    """Create a missing index with the records' dimension, then check every record fits."""
    info = await store.describe(index)
    if info is None:
        info = IndexInfo(len(records[0].vector))
        await store.create_index(index, info)
    check_dimensions(index, info.dimension, {f"record `{r.id}`": r.vector for r in records})
    return info


class InvalidIndexName(StoreError):
    error_type = "InvalidIndexName"


_INDEX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")


def check_index_name(index: str) -> str:
    """Index names every backend can use as a table/collection name: ``[A-Za-z0-9_-]``,
    at most 48 characters, starting with a letter or digit."""
    if not _INDEX_NAME.fullmatch(index):
        raise InvalidIndexName(
            f"index name {index!r} is not valid: use letters, digits, `_` and `-` "
            "(at most 48, starting with a letter or digit)"
        )
    return index


class VectorStore(Protocol):
    """Create, describe, upsert into, query, delete from and count named indexes.

    ``namespace=None`` is the default namespace; queries, deletes and counts see
    one namespace only. ``filter`` is the common filter syntax; a store raises
    :class:`InvalidFilter` before any I/O when it cannot express one.
    """

    async def describe(self, index: str) -> IndexInfo | None:
        """The index's dimension and embedder, or ``None`` if it does not exist."""
        ...

    async def create_index(self, index: str, info: IndexInfo) -> None:
        """Create the index if it does not exist (an existing one is left as it is)."""
        ...

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        """Insert or replace records by id; returns how many were written."""
        ...

    async def query(
        self,
        index: str,
        vector: list[float],
        *,
        top_k: int,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[Hit]:
        """The ``top_k`` most similar records, best first (ties by id), vectors included."""
        ...

    async def delete(
        self,
        index: str,
        ids: list[str] | None = None,
        *,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> int:
        """Delete the records with these ids, or matching ``filter``, or both (a record must
        then match both); neither deletes nothing. Returns how many were deleted."""
        ...

    async def count(
        self, index: str, *, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> int: ...

    async def aclose(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...

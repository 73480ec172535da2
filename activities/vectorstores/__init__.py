"""Vector stores: the Protocol, the backends (in-memory, LanceDB, pgvector, ...), the common
filter syntax, ingestion, and the per-worker registry."""

from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexMismatch,
    IndexNotFound,
    InvalidFilter,
    Record,
    StoreError,
    VectorStore,
)
from activities.vectorstores.filters import matches
from activities.vectorstores.memory import MemoryStore
from activities.vectorstores.registry import SCHEMES, Stores, open_store

__all__ = [
    "SCHEMES",
    "Hit",
    "IndexInfo",
    "IndexMismatch",
    "IndexNotFound",
    "InvalidFilter",
    "MemoryStore",
    "Record",
    "StoreError",
    "Stores",
    "VectorStore",
    "matches",
    "open_store",
]

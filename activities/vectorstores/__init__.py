"""Vector stores: the Protocol, the in-memory store, and the per-worker registry."""

from activities.vectorstores.base import Hit, Record, VectorStore
from activities.vectorstores.memory import MemoryStore, matches
from activities.vectorstores.registry import Stores

__all__ = ["Hit", "MemoryStore", "Record", "Stores", "VectorStore", "matches"]

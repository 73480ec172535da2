"""An in-memory vector store: the offline default and the test double.

Cosine similarity by brute force; filters support equality, ``$in``, ``$ne``,
``$gt/$gte/$lt/$lte`` and ``$and/$or`` over metadata.
"""

from __future__ import annotations

import math
from typing import Any

from activities.vectorstores.base import Hit, Record
from interpreter.errors import StepError

__all__ = ["MemoryStore", "matches"]


def matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Does ``metadata`` satisfy the common filter syntax ``condition``?"""
    for key, expected in condition.items():
        if key == "$and":
            if not all(matches(metadata, c) for c in expected):
                return False
        elif key == "$or":
            if not any(matches(metadata, c) for c in expected):
                return False
        elif isinstance(expected, dict):
            value = metadata.get(key)
            for op, operand in expected.items():
                if not _compare(op, value, operand):
                    return False
        elif metadata.get(key) != expected:
            return False
    return True


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op == "$in":
        return value in operand
    if op == "$nin":
        return value not in operand
    if value is None:
        return False
    try:
        if op == "$gt":
            return bool(value > operand)
        if op == "$gte":
            return bool(value >= operand)
        if op == "$lt":
            return bool(value < operand)
        if op == "$lte":
            return bool(value <= operand)
    except TypeError:
        return False
    raise StepError("vector_search", f"unsupported filter operator `{op}`")


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class MemoryStore:
    """Vectors kept in a dict per (index, namespace)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], dict[str, Record]] = {}

    def _space(self, index: str, namespace: str | None) -> dict[str, Record]:
        return self._data.setdefault((index, namespace or ""), {})

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        space = self._space(index, namespace)
        for record in records:
            space[record.id] = record
        return len(records)

    async def query(
        self,
        index: str,
        vector: list[float],
        *,
        top_k: int,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[Hit]:
        space = self._space(index, namespace)
        hits = []
        for record in space.values():
            if len(record.vector) != len(vector):
                raise StepError(
                    "vector_search",
                    f"query has {len(vector)} dimensions but index `{index}` holds "
                    f"{len(record.vector)}-dimensional vectors; embed the query with the "
                    "index's model",
                )
            if filter and not matches(record.metadata, filter):
                continue
            hits.append(
                Hit(
                    record.id,
                    _cosine(vector, record.vector),
                    record.text,
                    record.metadata,
                    record.vector,
                )
            )
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:top_k]

    async def delete(self, index: str, ids: list[str], *, namespace: str | None = None) -> int:
        space = self._space(index, namespace)
        return sum(1 for i in ids if space.pop(i, None) is not None)

    async def count(self, index: str, *, namespace: str | None = None) -> int:
        return len(self._space(index, namespace))

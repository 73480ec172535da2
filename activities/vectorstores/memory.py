"""An in-memory vector store: the deterministic fake that tests use, `database: memory`.

Exact cosine search with numpy over everything in a namespace; filters are
evaluated in Python with the same semantics the other backends translate to.
Nothing persists: the store lives as long as its worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexNotFound,
    Record,
    check_dimensions,
)
from activities.vectorstores.filters import evaluate, parse

__all__ = ["MemoryStore", "from_uri"]


class MemoryStore:
    """Records in a dict per (index, namespace)."""

    def __init__(self) -> None:
        self._info: dict[str, IndexInfo] = {}
        self._data: dict[tuple[str, str], dict[str, Record]] = {}

    def _space(self, index: str, namespace: str | None) -> dict[str, Record]:
        return self._data.setdefault((index, namespace or ""), {})

    async def describe(self, index: str) -> IndexInfo | None:
        return self._info.get(index)

    async def create_index(self, index: str, info: IndexInfo) -> None:
        self._info.setdefault(index, info)

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        if not records:
            return 0
        info = self._info.setdefault(index, IndexInfo(len(records[0].vector)))
        check_dimensions(index, info.dimension, {f"record `{r.id}`": r.vector for r in records})
        space = self._space(index, namespace)
        for record in records:
            space[record.id] = Record(
                record.id, list(record.vector), record.text, dict(record.metadata)
            )
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
        expr = parse(filter)
        info = self._info.get(index)
        if info is None:
            raise IndexNotFound(f"index `{index}` does not exist in the in-memory store")
        check_dimensions(index, info.dimension, {"the query": vector})
        candidates = [
            r for r in self._space(index, namespace).values() if evaluate(expr, r.metadata)
        ]
        if not candidates or top_k <= 0:
            return []
        import numpy as np  # only when searching: keeps importing the worker light

        matrix = np.asarray([r.vector for r in candidates], dtype=np.float64)
        query = np.asarray(vector, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.where(norms > 0, matrix @ query / norms, 0.0)
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].id))
        return [
            Hit(
                candidates[i].id,
                float(scores[i]),
                candidates[i].text or str(candidates[i].metadata.get("text", "")),
                dict(candidates[i].metadata),
                list(candidates[i].vector),
            )
            for i in order[:top_k]
        ]

    async def delete(
        self,
        index: str,
        ids: list[str] | None = None,
        *,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> int:
        expr = parse(filter)
        space = self._space(index, namespace)
        chosen = space.keys() if ids is None else [i for i in dict.fromkeys(ids) if i in space]
        doomed = [i for i in chosen if evaluate(expr, space[i].metadata)]
        if ids is None and expr is None:
            doomed = []  # neither ids nor filter: delete nothing, never everything
        for record_id in doomed:
            del space[record_id]
        return len(doomed)

    async def count(
        self, index: str, *, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        expr = parse(filter)
        space = self._space(index, namespace)
        if expr is None:
            return len(space)
        return sum(1 for r in space.values() if evaluate(expr, r.metadata))

    async def aclose(self) -> None:
        return None


def from_uri(uri: str, *, env: Mapping[str, str] | None = None) -> MemoryStore:
    """``memory`` (or ``memory://``): a fresh in-memory store."""
    return MemoryStore()

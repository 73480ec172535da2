"""The vector store interface every backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Hit:
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
    id: str
    vector: list[float]
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


class VectorStore(Protocol):
    """Upsert, query, delete and count vectors in named indexes."""

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int: ...

    async def query(
        self,
        index: str,
        vector: list[float],
        *,
        top_k: int,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[Hit]: ...

    async def delete(self, index: str, ids: list[str], *, namespace: str | None = None) -> int: ...

    async def count(self, index: str, *, namespace: str | None = None) -> int: ...

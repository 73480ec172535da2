"""Which vector store serves a `vector_search` step, per worker."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from activities.providers.offline import hashed_embedding
from activities.vectorstores.base import Record, VectorStore
from activities.vectorstores.memory import MemoryStore
from interpreter.errors import StepError

__all__ = ["Stores", "chunk_text"]

_OFFLINE_DATABASES = ("local", "memory", "offline")


def chunk_text(text: str, *, size: int = 800, overlap: int = 100) -> list[str]:
    """Split on paragraphs, packing them into chunks of about ``size`` characters."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if current and len(current) + len(paragraph) + 2 > size:
            chunks.append(current)
            current = current[-overlap:] + "\n\n" + paragraph if overlap else paragraph
        else:
            current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        chunks.append(current)
    return chunks


class Stores:
    """Vector stores by database name; the in-memory one is seeded from a docs directory."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        self.memory = MemoryStore()
        self._docs_dir = docs_dir
        self._seeded: set[str] = set()
        self._stores: dict[str, VectorStore] = {name: self.memory for name in _OFFLINE_DATABASES}

    def add(self, name: str, store: VectorStore) -> None:
        self._stores[name] = store

    async def get(
        self,
        step_id: str,
        database: str,
        index: str,
        *,
        offline: bool,
        embed: Callable[[list[str]], Awaitable[list[list[float]]]] | None = None,
    ) -> VectorStore:
        """The store for ``database``; the in-memory one is filled from the docs directory,
        embedded with ``embed`` (the index's embedder), the first time ``index`` is used."""
        if offline or database in _OFFLINE_DATABASES:
            await self._seed(index, embed)
            return self.memory
        store = self._stores.get(database)
        if store is None:
            raise StepError(
                step_id,
                f"vector database `{database}` is not configured on this worker (configured: "
                f"{', '.join(sorted(self._stores))}); run with --offline to use the in-memory "
                "store",
            )
        return store

    async def _seed(
        self, index: str, embed: Callable[[list[str]], Awaitable[list[list[float]]]] | None
    ) -> None:
        if index in self._seeded or self._docs_dir is None or not self._docs_dir.is_dir():
            return
        if await self.memory.count(index):
            self._seeded.add(index)
            return
        chunks: list[tuple[str, int, str]] = []
        for path in sorted(self._docs_dir.rglob("*")):
            if path.suffix not in (".md", ".txt") or not path.is_file():
                continue
            source = path.relative_to(self._docs_dir).as_posix()
            for number, chunk in enumerate(chunk_text(path.read_text(encoding="utf-8"))):
                chunks.append((source, number, chunk))
        texts = [chunk for _, _, chunk in chunks]
        vectors = await embed(texts) if embed else [hashed_embedding(t) for t in texts]
        records = [
            Record(
                hashlib.sha1(f"{source}#{number}".encode()).hexdigest()[:16],
                vector,
                chunk,
                {"source": source, "chunk": number, "text": chunk},
            )
            for (source, number, chunk), vector in zip(chunks, vectors, strict=True)
        ]
        await self.memory.upsert(index, records)
        self._seeded.add(index)

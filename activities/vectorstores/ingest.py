"""Load documents into an index: read, chunk, embed in batches, upsert.

Used by ``llm-orchestrator index`` and by the worker when it builds a missing
embedded index from its docs directory. Chunk ids are stable
(``sha256(source, chunk number)``), so re-indexing overwrites instead of
duplicating; a file whose text (or chunking, or embedder) is unchanged is
skipped without embedding anything; a changed file has its chunks replaced and
the chunks beyond its new length deleted. Files are read one at a time and
vectors are held one batch at a time, so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.providers.base import Embeddings
from activities.providers.registry import Providers
from activities.vectorstores.base import IndexInfo, IndexMismatch, Record, VectorStore

__all__ = [
    "SUFFIXES",
    "Document",
    "Embedder",
    "IndexReport",
    "check_compatible",
    "chunk_id",
    "chunk_text",
    "discover",
    "effective_embedder",
    "index_documents",
    "provider_embedder",
    "read_document",
]

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".rst", ".pdf"})
OFFLINE_EMBEDDER = "offline/hashed"


@dataclass(frozen=True)
class Embedder:
    """Texts → vectors, with the name recorded in (and checked against) index metadata."""

    name: str
    embed: Callable[[list[str]], Awaitable[list[list[float]]]]


def effective_embedder(name: str, *, offline: bool) -> str:
    """The name an embedder is recorded under: ``offline/hashed`` for the offline provider
    (whatever model was asked for), else ``name``."""
    provider = name.partition("/")[0]
    if provider == "offline" or (offline and provider != "local"):
        return OFFLINE_EMBEDDER
    return name


def provider_embedder(
    providers: Providers,
    step_id: str,
    name: str,
    *,
    offline: bool,
    on_usage: Callable[[Embeddings], None] | None = None,
) -> Embedder:
    """The ``provider/model`` embedder from the worker's providers.

    With ``offline`` every provider but ``local`` (which needs no network) is the
    offline one; its vectors do not depend on the model name, so it is recorded
    as ``offline/hashed`` whatever the step asked for.
    """
    provider_name, _, model = name.partition("/")
    provider = providers.embedder(step_id, provider_name, offline=offline)
    effective = OFFLINE_EMBEDDER if provider.name == "offline" else name

    async def embed(texts: list[str]) -> list[list[float]]:
        result = await provider.embed(texts, model=model, dimensions=None)
        if on_usage is not None:
            on_usage(result)
        return result.vectors

    return Embedder(effective, embed)


# --- documents ------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    path: Path
    source: str
    """The name recorded as ``metadata.source``: relative to the directory given, or the
    file's name when a file was given."""


def discover(paths: Sequence[Path | str]) -> list[Document]:
    """The documents under ``paths`` (directories recursively, sorted); sources unique."""
    found: list[Document] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUFFIXES:
                    found.append(Document(child, child.relative_to(path).as_posix()))
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise ValueError(
                    f"{path}: unsupported file type (supported: {', '.join(sorted(SUFFIXES))})"
                )
            found.append(Document(path, path.name))
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    seen: dict[str, Path] = {}
    for doc in found:
        if doc.source in seen and seen[doc.source] != doc.path:
            raise ValueError(
                f"{seen[doc.source]} and {doc.path} would both be indexed as `{doc.source}`; "
                "index them in separate runs with different --namespace values"
            )
        seen[doc.source] = doc.path
    return list({doc.source: doc for doc in found}.values())


def read_document(path: Path) -> str:
    """The text of a Markdown/text file, or of a PDF's pages (via pypdf)."""
    if path.suffix.lower() == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    return path.read_text(encoding="utf-8", errors="replace")


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _pieces(paragraph: str, size: int) -> Iterator[str]:
    """A paragraph longer than ``size``, cut at sentence ends, else at spaces."""
    if len(paragraph) <= size:
        yield paragraph
        return
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            if current:
                yield current
                current = ""
            yield sentence[:cut].strip()
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            yield current
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        yield current


def chunk_text(text: str, *, size: int = 800, overlap: int = 100) -> list[str]:
    """Pack paragraphs into chunks of at most about ``size`` characters; each chunk after
    the first starts with the last ``overlap`` characters (whole words) of the previous."""
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError("chunk size must be positive and the overlap smaller than it")
    pieces = [
        piece
        for paragraph in re.split(r"\n\s*\n", text)
        if paragraph.strip()
        for piece in _pieces(" ".join(paragraph.split()), size)
    ]
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > size:
            chunks.append(current)
            tail = current[-overlap:] if overlap else ""
            tail = tail[tail.find(" ") + 1 :] if " " in tail else tail
            current = f"{tail} … {piece}" if tail else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def chunk_id(source: str, number: int) -> str:
    """Stable across runs: the same source and chunk number give the same id."""
    return hashlib.sha256(f"{source}\x00{number}".encode()).hexdigest()[:32]


def _fingerprint(text: str, size: int, overlap: int, embedder: str) -> str:
    digest = hashlib.sha256(f"{size}:{overlap}:{embedder}\x00".encode())
    digest.update(text.encode())
    return digest.hexdigest()[:32]


# --- indexing -------------------------------------------------------------------------


def check_compatible(index: str, info: IndexInfo, *, dimension: int | None, embedder: str) -> None:
    """Raise :class:`IndexMismatch` if vectors of ``embedder`` cannot go into ``index``."""
    built = f" (built with {info.embedder})" if info.embedder else ""
    if dimension is not None and dimension != info.dimension:
        raise IndexMismatch(
            f"index `{index}` holds {info.dimension}-dimensional vectors{built} but {embedder} "
            f"gives {dimension}; use the index's embedder, or another index name"
        )
    if info.embedder and info.embedder != embedder:
        raise IndexMismatch(
            f"index `{index}` was built with {info.embedder}, not {embedder}; vectors of "
            "different models do not compare: use the index's embedder, or another index name"
        )


@dataclass
class IndexReport:
    files: int = 0
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0
    deleted: int = 0
    sources: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


async def index_documents(
    store: VectorStore,
    index: str,
    documents: Sequence[Document],
    embedder: Embedder,
    *,
    chunk_size: int = 800,
    chunk_overlap: int = 100,
    namespace: str | None = None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> IndexReport:
    """Index ``documents`` into ``index``; ``progress(n)`` is called as chunks are done."""
    report = IndexReport()
    info = await store.describe(index)
    if info is not None:  # refuse a different model before paying for any embedding
        check_compatible(index, info, dimension=None, embedder=embedder.name)
    pending: list[tuple[str, str, dict[str, Any]]] = []

    async def flush() -> None:
        nonlocal info
        if not pending:
            return
        vectors = await embedder.embed([text for _, text, _ in pending])
        if info is None:
            info = await store.describe(index)
        if info is None:
            info = IndexInfo(len(vectors[0]), embedder.name)
            await store.create_index(index, info)
        check_compatible(index, info, dimension=len(vectors[0]), embedder=embedder.name)
        records = [
            Record(record_id, vector, "", metadata)
            for (record_id, _, metadata), vector in zip(pending, vectors, strict=True)
        ]
        await store.upsert(index, records, namespace=namespace)
        report.embedded += len(records)
        if progress is not None:
            progress(len(records))
        pending.clear()

    for doc in documents:
        text = read_document(doc.path)
        chunks = chunk_text(text, size=chunk_size, overlap=chunk_overlap)
        fingerprint = _fingerprint(text, chunk_size, chunk_overlap, embedder.name)
        report.files += 1
        report.chunks += len(chunks)
        report.sources.append(doc.source)
        stale = {"$and": [{"source": doc.source}, {"chunk": {"$gte": len(chunks)}}]}
        if info is not None and chunks:
            same = {"source": doc.source, "fingerprint": fingerprint}
            current = await store.count(index, filter=same, namespace=namespace)
            if current == len(chunks) and not await store.count(
                index, filter=stale, namespace=namespace
            ):
                report.unchanged += 1
                if progress is not None:
                    progress(len(chunks))
                continue
        for number, chunk in enumerate(chunks):
            metadata = {
                "source": doc.source,
                "chunk": number,
                "text": chunk,
                "fingerprint": fingerprint,
            }
            pending.append((chunk_id(doc.source, number), chunk, metadata))
            if len(pending) >= batch_size:
                await flush()
        if info is not None:  # a shorter file leaves chunks beyond its new end
            report.deleted += await store.delete(index, filter=stale, namespace=namespace)
    await flush()
    optimize = getattr(store, "optimize", None)
    if optimize is not None and report.embedded:
        await optimize(index)
    return report

"""`llm-orchestrator index`: load documents into a vector index for `vector_search` steps.

Indexing is a batch job, not a workflow run: it talks to the embedder and the
store directly, with the same providers and store names a worker uses, so an
index built here is found by runs (``--offline`` ones included).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from activities import ActivitySettings
from activities.providers.config import load_worker_config
from activities.providers.registry import Providers
from activities.vectorstores import StoreError, Stores
from activities.vectorstores.ingest import (
    OFFLINE_EMBEDDER,
    IndexReport,
    check_compatible,
    chunk_text,
    discover,
    effective_embedder,
    index_documents,
    provider_embedder,
    read_document,
)
from interpreter.errors import OrchestratorError

__all__ = ["index"]


def index(args: argparse.Namespace) -> int:
    """Index the documents under ``args.paths`` (the flags of `index`, ``commands.py``)."""
    if args.chunk_size <= 0 or not 0 <= args.chunk_overlap < args.chunk_size:
        raise OrchestratorError("--chunk-overlap must be at least 0 and below --chunk-size")
    if args.batch_size <= 0:
        raise OrchestratorError("--batch-size must be positive")
    try:
        documents = discover([Path(p) for p in args.paths])
    except (OSError, ValueError) as exc:
        raise OrchestratorError(str(exc)) from None
    if not documents:
        raise OrchestratorError(f"no .md, .txt, .rst or .pdf files under {' '.join(args.paths)}")
    report = asyncio.run(_index(args, documents))
    where = f"{args.store}/{args.index}" + (
        f" (namespace {args.namespace})" if args.namespace else ""
    )
    print(
        f"indexed {report.files} files into {where}: {report.chunks} chunks, "
        f"{report.embedded} embedded, {report.unchanged} files unchanged, "
        f"{report.deleted} stale chunks removed"
    )
    return 0


async def _index(args: argparse.Namespace, documents: list[Any]) -> IndexReport:
    settings = ActivitySettings.from_env()
    stores = Stores(vectors_dir=settings.vectors_dir, uris=settings.vector_stores)
    providers = Providers(load_worker_config(args.config))
    try:
        try:
            store = stores.get(args.store)
            info = await store.describe(args.index)
            name = args.embedder or (info.embedder if info and info.embedder else OFFLINE_EMBEDDER)
            if info is not None:  # a different model is refused before anything is embedded
                check_compatible(
                    args.index,
                    info,
                    dimension=None,
                    embedder=effective_embedder(name, offline=args.offline),
                )
        except (StoreError, ValueError) as exc:
            raise OrchestratorError(str(exc)) from None
        embedder = provider_embedder(providers, "index", name, offline=args.offline)
        total = await asyncio.to_thread(_count_chunks, documents, args)
        bar = _progress(total, args.quiet, f"{args.index} ← {embedder.name}")
        try:
            return await index_documents(
                store,
                args.index,
                documents,
                embedder,
                chunk_size=args.chunk_size,
                chunk_overlap=args.chunk_overlap,
                namespace=args.namespace,
                batch_size=args.batch_size,
                progress=bar.update,
            )
        except StoreError as exc:
            raise OrchestratorError(str(exc)) from None
        finally:
            bar.close()
    finally:
        await stores.aclose()
        await providers.aclose()


def _count_chunks(documents: list[Any], args: argparse.Namespace) -> int:
    """The progress bar's total (a first pass that reads, but never holds, every file)."""
    return sum(
        len(chunk_text(read_document(d.path), size=args.chunk_size, overlap=args.chunk_overlap))
        for d in documents
    )


class _NoBar:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def _progress(total: int, quiet: bool, label: str) -> Any:
    if quiet:
        return _NoBar()
    from tqdm import tqdm

    # a bar on stderr even when it is not a terminal (CI logs get its final line)
    return tqdm(total=total, desc=label, unit="chunk", file=sys.stderr, mininterval=0.2)

"""`llm-orchestrator index`: chunks, stable ids, re-indexing, progress, PDFs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from activities.providers.offline import hashed_embedding
from activities.vectorstores import IndexInfo, MemoryStore
from activities.vectorstores.ingest import (
    Embedder,
    chunk_id,
    chunk_text,
    discover,
    index_documents,
)
from activities.vectorstores.local import LanceStore
from llm_orchestrator.cli import main

LONG = "\n\n".join(
    f"Paragraph {i} talks about topic {i} at some length so that chunks fill up. " * 3
    for i in range(12)
)


def corpus(root: Path) -> Path:
    docs = root / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "long.md").write_text(LONG)
    (docs / "guides" / "short.txt").write_text("A short note about retries.\n")
    (docs / "skip.json").write_text("{}")
    return docs


def stored(vectors: Path, index: str = "docs") -> dict[str, dict[str, object]]:
    """Everything in the index, by id (read back through the store itself)."""

    async def read() -> dict[str, dict[str, object]]:
        store = LanceStore(vectors)
        try:
            info = await store.describe(index)
            assert info is not None
            hits = await store.query(index, [1.0] * info.dimension, top_k=1000)
            return {h.id: h.metadata for h in hits}
        finally:
            await store.aclose()

    return asyncio.run(read())


def run_index(*args: str) -> int:
    return main(["index", *args])


def test_index_then_reindex_is_idempotent_and_skips_unchanged_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs, vectors = corpus(tmp_path), tmp_path / "vectors"
    assert run_index(str(docs), "--store", f"local:{vectors}", "--index", "docs") == 0
    out, err = capsys.readouterr()
    first = stored(vectors)
    chunks = len(chunk_text(LONG)) + 1
    assert f"indexed 2 files into local:{vectors}/docs: {chunks} chunks, {chunks} embedded" in out
    assert "100%" in err and f"{chunks}/{chunks}" in err and "offline/hashed" in err
    assert len(first) == chunks
    assert {m["source"] for m in first.values()} == {"long.md", "guides/short.txt"}
    assert first[chunk_id("long.md", 0)]["chunk"] == 0
    assert first[chunk_id("guides/short.txt", 0)]["text"] == "A short note about retries."

    assert run_index(str(docs), "--store", f"local:{vectors}", "--quiet") == 0
    out, err = capsys.readouterr()
    assert f"{chunks} chunks, 0 embedded, 2 files unchanged" in out and err == ""
    assert stored(vectors) == first


def test_a_changed_file_replaces_its_chunks_and_drops_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs, vectors = corpus(tmp_path), tmp_path / "vectors"
    run_index(str(docs), "--store", f"local:{vectors}", "--quiet")
    before = stored(vectors)
    (docs / "long.md").write_text("Now the long file is one short paragraph.")
    assert run_index(str(docs), "--store", f"local:{vectors}", "--quiet") == 0
    out = capsys.readouterr().out
    after = stored(vectors)
    stale = len(chunk_text(LONG)) - 1
    assert f"2 chunks, 1 embedded, 1 files unchanged, {stale} stale chunks removed" in out
    assert set(after) == {chunk_id("long.md", 0), chunk_id("guides/short.txt", 0)}
    assert after[chunk_id("long.md", 0)]["text"] == "Now the long file is one short paragraph."
    assert after[chunk_id("guides/short.txt", 0)] == before[chunk_id("guides/short.txt", 0)]


def test_chunking_options_namespace_and_pdf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(_pdf("Retries wait for Retry-After."))
    vectors = tmp_path / "vectors"
    code = run_index(
        str(pdf),
        str(corpus(tmp_path) / "long.md"),
        "--store",
        f"local:{vectors}",
        "--index",
        "manuals",
        "--namespace",
        "team-a",
        "--chunk-size",
        "300",
        "--chunk-overlap",
        "50",
        "--quiet",
    )
    assert code == 0, capsys.readouterr().err

    async def read() -> list[str]:
        store = LanceStore(vectors)
        try:
            assert await store.count("manuals") == 0  # the default namespace is empty
            hits = await store.query(
                "manuals",
                hashed_embedding("Retry-After"),
                top_k=50,
                namespace="team-a",
                filter={"source": "manual.pdf"},
            )
            assert await store.count("manuals", namespace="team-a") == 1 + len(
                chunk_text(LONG, size=300, overlap=50)
            )
            return [h.text for h in hits]
        finally:
            await store.aclose()

    assert asyncio.run(read()) == ["Retries wait for Retry-After."]


def test_a_different_embedder_is_refused_before_any_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs, vectors = corpus(tmp_path), tmp_path / "vectors"
    run_index(str(docs), "--store", f"local:{vectors}", "--quiet")
    code = run_index(str(docs), "--store", f"local:{vectors}", "--embedder", "openai/x", "--quiet")
    assert code == 1
    assert "built with offline/hashed, not openai/x" in capsys.readouterr().err


def test_cli_mistakes_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_index(str(tmp_path / "missing")) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert run_index(str(tmp_path), "--chunk-size", "100", "--chunk-overlap", "100") == 1
    assert "--chunk-overlap" in capsys.readouterr().err
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.md").write_text("one")
    (tmp_path / "b" / "x.md").write_text("two")
    assert run_index(str(tmp_path / "a"), str(tmp_path / "b")) == 1
    assert "would both be indexed as `x.md`" in capsys.readouterr().err
    assert run_index(str(tmp_path / "a"), "--store", "qdrant://h") == 1
    assert "unknown vector store" in capsys.readouterr().err


def test_ingestion_streams_in_batches_and_ids_are_stable(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    calls: list[int] = []

    async def embed(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return [hashed_embedding(t, 16) for t in texts]

    store = MemoryStore()
    report = asyncio.run(
        index_documents(store, "i", discover([docs]), Embedder("test/m", embed), batch_size=3)
    )
    assert max(calls) <= 3 and sum(calls) == report.embedded == report.chunks
    assert asyncio.run(store.describe("i")) == IndexInfo(16, "test/m")
    assert chunk_id("a.md", 1) == chunk_id("a.md", 1) != chunk_id("a.md", 2)


def test_chunks_stay_near_the_size_and_overlap() -> None:
    text = ("word " * 500).strip() + "\n\n" + "Another paragraph. " * 40
    chunks = chunk_text(text, size=200, overlap=40)
    assert all(len(c) <= 200 + 40 + 3 for c in chunks)
    assert chunks[1].split(" … ")[0] in chunks[0]  # the overlap repeats the previous tail
    assert chunk_text("") == []


def _pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica (hand-assembled, xref offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)

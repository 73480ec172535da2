"""Approximate search at scale: LanceDB's ANN index above a threshold, pgvector's HNSW settings.

The data are clustered unit vectors (as real embeddings are) and queries near stored
ones; recall@5 is measured against numpy brute force. Sizes and thresholds are small
so that the tests run in seconds; the benchmark (bench/bench_vectorstores.py) covers
100,000 vectors. No timing here.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest

from activities.vectorstores import Record, open_store
from activities.vectorstores.local import AnnSettings, LanceStore, from_uri
from activities.vectorstores.pgvector import DEFAULT_EF_SEARCH, PgVectorStore

pytestmark = pytest.mark.asyncio(loop_scope="session")

DIM = 64
RECALL_TARGET = 0.95


def clustered(n: int, queries: int, *, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    matrix = centres[rng.integers(0, 20, n)] + rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    probes = matrix[rng.integers(0, n, queries)]
    probes = probes + 0.5 * rng.standard_normal((queries, DIM)) / np.sqrt(DIM)
    return matrix.astype(np.float32), probes.astype(np.float32)


async def fill(store: LanceStore | PgVectorStore, index: str, matrix: np.ndarray) -> None:
    for start in range(0, len(matrix), 500):
        batch = matrix[start : start + 500]
        await store.upsert(
            index,
            [
                Record(f"r{start + i}", row.tolist(), "", {"parity": (start + i) % 2})
                for i, row in enumerate(batch)
            ],
        )


async def recall_at_5(
    store: LanceStore | PgVectorStore,
    index: str,
    matrix: np.ndarray,
    queries: np.ndarray,
    *,
    parity: int | None = None,
) -> float:
    rows = np.arange(len(matrix)) if parity is None else np.arange(parity, len(matrix), 2)
    found = 0
    for query in queries:
        scores = matrix[rows] @ query
        expected = {f"r{rows[i]}" for i in np.argsort(-scores)[:5]}
        condition = None if parity is None else {"parity": parity}
        hits = await store.query(index, query.tolist(), top_k=5, filter=condition)
        assert len(hits) == 5
        found += len(expected & {h.id for h in hits})
    return found / (5 * len(queries))


async def test_lance_builds_an_ann_index_at_the_threshold_and_keeps_recall(
    tmp_path: Path,
) -> None:
    matrix, queries = clustered(3000, 40)
    store = LanceStore(tmp_path, ann=AnnSettings(threshold=2000))
    try:
        await fill(store, "big", matrix)
        assert not await store.has_ann_index("big")  # upserts alone never build it
        await store.optimize("big")
        assert await store.has_ann_index("big")
        assert await recall_at_5(store, "big", matrix, queries) >= RECALL_TARGET
        assert await recall_at_5(store, "big", matrix, queries, parity=1) >= RECALL_TARGET
        # rows written after the build are found before the next optimize (searched flat)
        extra = queries[:1] / np.linalg.norm(queries[:1])
        await store.upsert("big", [Record("fresh", extra[0].tolist())])
        hits = await store.query("big", extra[0].tolist(), top_k=1)
        assert hits[0].id == "fresh"
    finally:
        await store.aclose()


async def test_lance_below_the_threshold_stays_exact(tmp_path: Path) -> None:
    matrix, queries = clustered(1500, 20)
    store = LanceStore(tmp_path, ann=AnnSettings(threshold=2000))
    try:
        await fill(store, "small", matrix)
        await store.optimize("small")
        assert not await store.has_ann_index("small")
        assert await recall_at_5(store, "small", matrix, queries) == 1.0
    finally:
        await store.aclose()


@pytest.mark.filterwarnings("ignore::pytest.PytestWarning")  # a sync test under the module mark
def test_lance_ann_settings_come_from_the_store_uri(tmp_path: Path) -> None:
    store = from_uri(f"local:{tmp_path}?ann_threshold=500&nprobes=4&refine_factor=3&ef=64")
    assert store.ann == AnnSettings(threshold=500, nprobes=4, refine_factor=3, ef=64)
    assert store.path == tmp_path
    assert from_uri(f"local:{tmp_path}").ann == AnnSettings()
    opened = open_store("local?refine_factor=2", env={"LLM_ORCHESTRATOR_VECTORS": str(tmp_path)})
    assert isinstance(opened, LanceStore)
    assert opened.ann.refine_factor == 2
    assert opened.path == tmp_path
    with pytest.raises(ValueError, match="unknown local store option"):
        from_uri("local?nprobe=4")
    with pytest.raises(ValueError, match="positive"):
        from_uri("local?refine_factor=0")


@pytest.fixture
def pg_uri(request: pytest.FixtureRequest) -> str:
    base: str = request.getfixturevalue("postgres_uri")
    return base


async def test_pgvector_builds_hnsw_with_the_configured_parameters(pg_uri: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    store = open_store(f"{pg_uri}?schema={schema}&m=24&ef_construction=100")
    assert isinstance(store, PgVectorStore)
    try:
        matrix, queries = clustered(2000, 30)
        await fill(store, "docs", matrix)
        async with await psycopg.AsyncConnection.connect(pg_uri) as conn:
            cur = await conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'docs'",
                [schema],
            )
            definitions = [row[0] for row in await cur.fetchall()]
        hnsw = [d for d in definitions if "USING hnsw" in d]
        assert len(hnsw) == 1
        assert "vector_cosine_ops" in hnsw[0]
        assert "m='24'" in hnsw[0] and "ef_construction='100'" in hnsw[0]
        assert await recall_at_5(store, "docs", matrix, queries) >= RECALL_TARGET
    finally:
        await store.aclose()


async def _ef_search_of_query_connections(store: PgVectorStore) -> set[str]:
    """``hnsw.ef_search`` on every connection the store's pool hands to queries."""
    pool = await store._connections()
    seen = set()
    async with pool.connection() as first, pool.connection() as second:
        for conn in (first, second):
            cur = await conn.execute("SHOW hnsw.ef_search")
            row = await cur.fetchone()
            assert row is not None
            seen.add(str(row[0]))
    return seen


async def test_pgvector_sets_ef_search_on_every_connection(pg_uri: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    configured = open_store(f"{pg_uri}?schema={schema}&ef_search=250&pool_size=2")
    default = PgVectorStore(pg_uri, schema=schema, pool_size=2)
    assert isinstance(configured, PgVectorStore)
    try:
        assert await _ef_search_of_query_connections(configured) == {"250"}
        assert await _ef_search_of_query_connections(default) == {str(DEFAULT_EF_SEARCH)}
        matrix, queries = clustered(600, 3)
        await fill(configured, "docs", matrix)  # and queries still work on such a connection
        assert len(await configured.query("docs", queries[0].tolist(), top_k=5)) == 5
    finally:
        await configured.aclose()
        await default.aclose()

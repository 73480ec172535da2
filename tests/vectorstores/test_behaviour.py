"""The behaviour every vector store shares: memory, LanceDB and pgvector alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from activities.vectorstores import (
    IndexInfo,
    IndexMismatch,
    IndexNotFound,
    InvalidFilter,
    Record,
    VectorStore,
)
from activities.vectorstores.filters import matches

pytestmark = pytest.mark.asyncio(loop_scope="session")

DIM = 64


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    return rng.standard_normal((n, dim)).astype(np.float32)


async def fill(store: VectorStore, index: str, vectors: np.ndarray, **kw: Any) -> list[Record]:
    records = [
        Record(f"r{i:04d}", [float(x) for x in v], f"text {i}", {"n": i, "parity": i % 2})
        for i, v in enumerate(vectors)
    ]
    for start in range(0, len(records), 250):
        await store.upsert(index, records[start : start + 250], **kw)
    return records


def brute_force(vectors: np.ndarray, query: np.ndarray, top_k: int) -> list[tuple[str, float]]:
    matrix = vectors.astype(np.float64)
    q = query.astype(np.float64)
    scores = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top_k]
    return [(f"r{i:04d}", float(scores[i])) for i in order]


async def test_top_k_order_and_scores_equal_numpy_brute_force(store: VectorStore) -> None:
    rng = np.random.default_rng(7)
    vectors = unit(rng, 1000)
    await fill(store, "bench", vectors)
    assert await store.count("bench") == 1000
    for query in unit(rng, 5):
        hits = await store.query("bench", [float(x) for x in query], top_k=10)
        expected = brute_force(vectors, query, 10)
        assert [h.id for h in hits] == [i for i, _ in expected]
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-5)
        assert hits[0].text == f"text {int(hits[0].id[1:])}"
        assert hits[0].metadata["n"] == int(hits[0].id[1:])


async def test_filtered_top_k_equals_brute_force_over_the_matching_records(
    store: VectorStore,
) -> None:
    rng = np.random.default_rng(11)
    vectors = unit(rng, 1000)
    await fill(store, "filtered", vectors)
    query = unit(rng, 1)[0]
    hits = await store.query(
        "filtered", [float(x) for x in query], top_k=5, filter={"n": {"$gte": 990}}
    )
    expected = brute_force(vectors[990:], query, 5)
    assert [h.id for h in hits] == [f"r{int(i[1:]) + 990:04d}" for i, _ in expected]
    assert all(h.metadata["n"] >= 990 for h in hits)


CORPUS: list[dict[str, Any]] = [
    {"source": "a.md", "year": 2021, "lang": "en", "draft": False, "score": 0.5},
    {"source": "b.md", "year": 2023, "lang": "de", "draft": True},
    {"source": "c.md", "year": 2024.0, "lang": "en", "date": "2024-03-01"},
    {"source": "d.md", "year": "2023", "lang": "fr", "date": "2023-12-31"},
    {"source": "e.md", "lang": "en", "tags": ["x"], "date": "2025-01-15"},
    {"source": "f.md", "year": True, "lang": "it's", "score": -2},
]

FILTERS: list[dict[str, Any]] = [
    {"source": "a.md"},
    {"lang": "it's"},
    {"year": 2023},
    {"year": "2023"},
    {"year": 2024},
    {"year": True},
    {"draft": False},
    {"year": {"$ne": 2023}},
    {"year": {"$gte": 2022}},
    {"year": {"$gt": 2021, "$lt": 2024}},
    {"score": {"$lte": 0.5}},
    {"date": {"$gte": "2024-01-01"}},
    {"date": {"$lt": "2024"}},
    {"lang": {"$in": ["de", "fr"]}},
    {"lang": {"$nin": ["en"]}},
    {"year": {"$in": [2021, "2023", True]}},
    {"$or": [{"lang": "de"}, {"year": {"$lt": 2022}}]},
    {"$and": [{"lang": "en"}, {"$or": [{"draft": False}, {"date": {"$gt": "2025"}}]}]},
    {"lang": "en", "year": {"$ne": 2021}},
    {"tags": "x"},
    {"missing": {"$nin": ["a"]}},
    {"draft": {"$ne": True}},
    {"lang": {"$in": []}},
]


@pytest.mark.parametrize("condition", FILTERS, ids=[str(f) for f in FILTERS])
async def test_filters_select_exactly_what_the_common_semantics_say(
    store: VectorStore, condition: dict[str, Any]
) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, len(CORPUS), 8)
    records = [
        Record(m["source"], [float(x) for x in v], "", m)
        for m, v in zip(CORPUS, vectors, strict=True)
    ]
    await store.upsert("docs", records)
    hits = await store.query("docs", [1.0] * 8, top_k=100, filter=condition)
    expected = {m["source"] for m in CORPUS if matches(m, condition)}
    assert {h.id for h in hits} == expected
    assert await store.count("docs", filter=condition) == len(expected)


async def test_namespaces_are_separate(store: VectorStore) -> None:
    a = Record("same-id", [1.0, 0.0, 0.0], "in a", {"ns": "a"})
    b = Record("same-id", [0.0, 1.0, 0.0], "in b", {"ns": "b"})
    await store.upsert("spaces", [a], namespace="a")
    await store.upsert("spaces", [b], namespace="b")
    await store.upsert("spaces", [Record("default", [0.0, 0.0, 1.0])])
    assert [await store.count("spaces", namespace=n) for n in ("a", "b", None)] == [1, 1, 1]
    (hit,) = await store.query("spaces", [1.0, 1.0, 0.0], top_k=5, namespace="b")
    assert (hit.id, hit.text, hit.metadata) == ("same-id", "in b", {"ns": "b"})
    assert hit.score == pytest.approx(2**-0.5, abs=1e-6)
    assert await store.delete("spaces", ["same-id"], namespace="a") == 1
    assert await store.count("spaces", namespace="a") == 0
    assert await store.count("spaces", namespace="b") == 1


async def test_re_upsert_is_idempotent_and_replaces(store: VectorStore) -> None:
    records = [Record(f"id{i}", [float(i), 1.0], f"v1 {i}", {"v": 1}) for i in range(20)]
    await store.upsert("twice", records)
    await store.upsert("twice", records)
    assert await store.count("twice") == 20
    changed = Record("id3", [-1.0, 0.0], "v2", {"v": 2})
    await store.upsert("twice", [changed])
    assert await store.count("twice") == 20
    (hit,) = await store.query("twice", [-1.0, 0.0], top_k=1)
    assert (hit.id, hit.text, hit.metadata, hit.score) == ("id3", "v2", {"v": 2}, pytest.approx(1))
    assert hit.vector == pytest.approx([-1.0, 0.0])
    assert await store.count("twice", filter={"v": 2}) == 1


async def test_delete_by_ids_and_by_filter(store: VectorStore) -> None:
    records = [Record(f"id{i}", [1.0, float(i)], "", {"i": i}) for i in range(10)]
    await store.upsert("del", records)
    assert await store.delete("del", ["id0", "id1", "nope"]) == 2
    assert await store.delete("del", filter={"i": {"$gte": 8}}) == 2
    assert await store.delete("del", ["id5"], filter={"i": 4}) == 0  # ids AND filter
    assert await store.delete("del") == 0  # neither: nothing, never everything
    assert await store.count("del") == 6
    assert sorted(h.id for h in await store.query("del", [1.0, 0.0], top_k=10)) == [
        f"id{i}" for i in range(2, 8)
    ]


async def test_index_records_dimension_and_embedder(store: VectorStore) -> None:
    assert await store.describe("meta") is None
    await store.create_index("meta", IndexInfo(3, "offline/hashed"))
    await store.create_index("meta", IndexInfo(5, "other/model"))  # exists: left alone
    assert await store.describe("meta") == IndexInfo(3, "offline/hashed")
    assert await store.count("meta") == 0
    with pytest.raises(IndexMismatch, match="3-dimensional"):
        await store.upsert("meta", [Record("x", [1.0, 2.0])])
    with pytest.raises(IndexMismatch, match="3-dimensional"):
        await store.query("meta", [1.0, 2.0], top_k=1)
    assert await store.query("meta", [1.0, 2.0, 3.0], top_k=3) == []


async def test_missing_index_and_bad_filters_are_clear_errors(store: VectorStore) -> None:
    with pytest.raises(IndexNotFound, match="nowhere"):
        await store.query("nowhere", [1.0], top_k=1)
    assert await store.count("nowhere") == 0
    with pytest.raises(InvalidFilter, match=r"unknown operator `\$regex`"):
        await store.query("nowhere", [1.0], top_k=1, filter={"a": {"$regex": "x"}})
    with pytest.raises(InvalidFilter, match="use"):
        await store.count("nowhere", filter={"a": [1, 2]})

"""Behaviour every vector store must show, written once and run against Pinecone and Weaviate
(through their loopback fakes here, and real images where Docker exists).

Expected results come from numpy brute force and from the common filter semantics in
:func:`activities.vectorstores.filters.matches`, never from the store under test.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from activities.vectorstores.base import Hit, InvalidFilter, Record, VectorStore
from activities.vectorstores.filters import matches

DIM = 16
N = 1000
GROUPS = ("alpha", "beta", "gamma", "delta")
TOLERANCE = 1e-5  # Weaviate computes in float32


def corpus(seed: int = 7, n: int = N, dim: int = DIM) -> tuple[list[Record], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim))
    records = [
        Record(
            f"doc-{i:04d}",
            [float(x) for x in vectors[i]],
            f"text of document {i}",
            {
                "n": i,
                "group": GROUPS[i % len(GROUPS)],
                "even": i % 2 == 0,
                "weight": round(float(rng.uniform(0, 10)), 3),
            },
        )
        for i in range(n)
    ]
    return records, vectors


def expected(
    records: list[Record], vectors: np.ndarray, query: np.ndarray, top_k: int, flt: Any = None
) -> list[tuple[str, float]]:
    """The top-k (id, cosine similarity) by numpy brute force over the matching records."""
    keep = [i for i, r in enumerate(records) if flt is None or matches(r.metadata, flt)]
    if not keep:
        return []
    chosen = vectors[keep]
    scores = chosen @ query / (np.linalg.norm(chosen, axis=1) * np.linalg.norm(query))
    order = sorted(range(len(keep)), key=lambda j: (-scores[j], records[keep[j]].id))
    return [(records[keep[j]].id, float(scores[j])) for j in order[:top_k]]


def assert_same(hits: list[Hit], want: list[tuple[str, float]]) -> None:
    assert [h.id for h in hits] == [i for i, _ in want]
    for hit, (_, score) in zip(hits, want, strict=True):
        assert hit.score == pytest.approx(score, abs=TOLERANCE)


FILTERS: list[dict[str, Any]] = [
    {"group": "beta"},
    {"group": {"$in": ["alpha", "delta"]}},
    {"group": {"$nin": ["alpha", "delta"]}},
    {"n": {"$gte": 100, "$lt": 300}},
    {"weight": {"$gt": 2.5, "$lte": 7.25}},
    {"even": True, "group": {"$ne": "alpha"}},
    {"$and": [{"n": {"$lt": 500}}, {"group": {"$in": ["gamma"]}}]},
    {"$or": [{"n": {"$lt": 20}}, {"weight": {"$gte": 9.5}}]},
    {"$or": [{"group": "alpha", "even": True}, {"$and": [{"n": {"$gt": 900}}, {"even": False}]}]},
    {"missing_key": {"$ne": 1}},  # $ne matches records that lack the key
    {"missing_key": 1},  # nothing has it: no hits
    {"n": "12"},  # types never mix: the string "12" is not the number 12
]


async def check_topk_and_filters(store: VectorStore, index: str) -> None:
    records, vectors = corpus()
    assert await store.upsert(index, records) == N
    assert await store.count(index) == N
    rng = np.random.default_rng(11)
    for query in rng.normal(size=(3, DIM)):
        hits = await store.query(index, [float(x) for x in query], top_k=10)
        assert_same(hits, expected(records, vectors, query, 10))
    query = rng.normal(size=DIM)
    for flt in FILTERS:
        hits = await store.query(index, [float(x) for x in query], top_k=7, filter=flt)
        assert_same(hits, expected(records, vectors, query, 7, flt))
        for hit in hits:
            assert matches(hit.metadata, flt), (flt, hit)
    assert await store.count(index, filter={"group": "beta"}) == N // len(GROUPS)
    assert await store.count(index, filter={"n": {"$lt": 10}}) == 10


async def check_payload(store: VectorStore, index: str) -> None:
    """Text, metadata and (on request) the vector come back as written."""
    records, _ = corpus(n=4)
    plain = Record("plain", records[0].vector, "the text", {"source": "a.md", "chunk": 3})
    in_meta = Record("in-meta", records[1].vector, "", {"source": "b.md", "text": "kept text"})
    await store.upsert(index, [plain, in_meta])
    hits = {h.id: h for h in await store.query(index, plain.vector, top_k=2)}
    assert hits["plain"].text == "the text"
    assert hits["plain"].metadata == {"source": "a.md", "chunk": 3}
    assert hits["plain"].vector is None
    assert hits["in-meta"].text == "kept text"
    assert hits["in-meta"].metadata == {"source": "b.md", "text": "kept text"}
    [top] = await store.query(index, plain.vector, top_k=1, include_vectors=True)
    assert top.id == "plain"
    assert top.vector == pytest.approx(plain.vector, abs=1e-6)


async def check_mixed_types_under_one_key(store: VectorStore, index: str) -> None:
    """Metadata may hold a number in one record and a string or boolean in another."""
    records, _ = corpus(n=6)
    years: list[Any] = [2021, 2023, 2024.0, "2023", True, 2022.5]
    mixed = [
        Record(r.id, r.vector, r.text, {"year": y, "tags": ["x"] if i == 0 else "x"})
        for i, (r, y) in enumerate(zip(records, years, strict=True))
    ]
    await store.upsert(index, mixed)
    for flt in (
        {"year": 2023},
        {"year": "2023"},
        {"year": True},
        {"year": {"$gte": 2022}},
        {"year": {"$ne": 2023}},
        {"year": {"$in": [2021, "2023", True]}},
        {"tags": "x"},  # list values never match
    ):
        hits = await store.query(index, records[0].vector, top_k=10, filter=flt)
        assert {h.id for h in hits} == {r.id for r in mixed if matches(r.metadata, flt)}, flt
    by_id = {h.id: h for h in await store.query(index, records[0].vector, top_k=10)}
    for record in mixed:
        assert by_id[record.id].metadata == record.metadata


async def check_namespaces(store: VectorStore, index: str) -> None:
    records, vectors = corpus(seed=3, n=60)
    default, other = records[:40], records[40:]
    await store.upsert(index, default)
    await store.upsert(index, other, namespace="tenant-b")
    # the same id in two namespaces is two records
    twin = Record(default[0].id, other[0].vector, "twin", {"group": "twin"})
    await store.upsert(index, [twin], namespace="tenant-b")
    assert await store.count(index) == 40
    assert await store.count(index, namespace="tenant-b") == 21
    assert await store.count(index, namespace="nobody") == 0
    query = vectors[45]
    hits = await store.query(index, [float(x) for x in query], top_k=100, namespace="tenant-b")
    assert {h.id for h in hits} == {r.id for r in other} | {twin.id}
    hits = await store.query(index, [float(x) for x in query], top_k=100)
    assert {h.id for h in hits} == {r.id for r in default}
    assert next(h for h in hits if h.id == twin.id).metadata["group"] != "twin"


async def check_reupsert_and_delete(store: VectorStore, index: str) -> None:
    records, _ = corpus(seed=5, n=50)
    await store.upsert(index, records)
    await store.upsert(index, records)  # idempotent
    assert await store.count(index) == 50
    changed = Record(records[0].id, records[0].vector, "changed", {**records[0].metadata, "n": -1})
    await store.upsert(index, [changed])
    assert await store.count(index) == 50
    [top] = await store.query(index, changed.vector, top_k=1)
    assert (top.id, top.text, top.metadata["n"]) == (changed.id, "changed", -1)

    assert await store.delete(index, [records[1].id, records[2].id, "never-existed"]) == 2
    assert await store.count(index) == 48
    assert await store.delete(index, [records[1].id]) == 0  # already gone: no error
    assert await store.delete(index, [records[3].id], namespace="elsewhere") == 0
    assert await store.count(index) == 48
    beta = sum(1 for r in records[3:] if r.metadata["group"] == "beta")
    assert await store.delete(index, filter={"group": "beta"}) == beta
    assert await store.count(index) == 48 - beta
    assert await store.count(index, filter={"group": "beta"}) == 0
    # ids and a filter: only those ids that match it
    ids = [r.id for r in records[10:20]]
    doomed = [r.id for r in records[10:20] if r.metadata["group"] == "alpha"]
    assert await store.delete(index, ids, filter={"group": "alpha"}) == len(doomed)
    assert await store.count(index) == 48 - beta - len(doomed)
    assert await store.delete(index) == 0  # neither ids nor filter: deletes nothing
    assert await store.count(index) == 48 - beta - len(doomed)


async def check_bad_filters(store: VectorStore, index: str) -> None:
    records, _ = corpus(n=3)
    await store.upsert(index, records)
    bad: list[Any] = [
        {"n": {"$regex": "x"}},
        {"$not": {"n": 1}},
        {"n": [1, 2]},
        {"n": None},
        {"$or": []},
        {"group": {"$gt": "beta"}},  # a range over strings: neither Pinecone nor Weaviate
    ]
    for flt in bad:
        with pytest.raises(InvalidFilter):
            await store.query(index, records[0].vector, top_k=1, filter=flt)


CHECKS = [
    check_topk_and_filters,
    check_payload,
    check_namespaces,
    check_mixed_types_under_one_key,
    check_reupsert_and_delete,
    check_bad_filters,
]
_names = itertools.count()


def fresh_index() -> str:
    return f"suite{next(_names)}"

"""WeaviateStore through weaviate-client v4 against a loopback Weaviate (REST + gRPC stubs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import grpc
import pytest
import pytest_asyncio

from activities.vectorstores.base import (
    IndexInfo,
    IndexMismatch,
    IndexNotFound,
    InvalidIndexName,
    Record,
    StoreError,
)
from activities.vectorstores.weaviate import WeaviateStore, collection_name, from_uri
from interpreter.errors import ProviderError
from tests.vectorstores.fakes.weaviate_server import FakeWeaviate
from tests.vectorstores.remote_checks import CHECKS, DIM, corpus


@pytest.fixture
def fake() -> Iterator[FakeWeaviate]:
    with FakeWeaviate.running() as server:
        yield server


@pytest_asyncio.fixture
async def store(fake: FakeWeaviate) -> AsyncIterator[WeaviateStore]:
    weaviate = WeaviateStore(http_port=fake.http_port, grpc_port=fake.grpc_port)
    yield weaviate
    await weaviate.aclose()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_behaviour(
    store: WeaviateStore, check: Callable[[WeaviateStore, str], Awaitable[None]]
) -> None:
    await check(store, "docs")


async def test_schema_and_data_travel_the_right_way(
    store: WeaviateStore, fake: FakeWeaviate
) -> None:
    await store.create_index("docs", IndexInfo(DIM, "openai/text-embedding-3-small"))
    records, _ = corpus(n=3)
    await store.upsert("docs", records)
    await store.query("docs", records[0].vector, top_k=1, filter={"n": {"$gt": 0}})
    await store.count("docs")
    await store.delete("docs", [records[0].id])
    schema = fake.classes["Docs"]
    assert json.loads(schema["description"]) == {
        "llm_orchestrator": {"dimension": DIM, "embedder": "openai/text-embedding-3-small"}
    }
    types = {p["name"]: (p["dataType"][0], p.get("tokenization")) for p in schema["properties"]}
    assert types["group"] == ("text", "field")  # exact equality, not word matching
    assert types["n"] == ("number", None) and types["weight"] == ("number", None)
    assert types["even"] == ("boolean", None)
    assert schema["vectorConfig"]["default"]["vectorIndexConfig"]["distance"] == "cosine"
    grpc_calls = [c for c in fake.calls if c.startswith("grpc")]
    assert grpc_calls == ["grpc BatchObjects", "grpc Search", "grpc Aggregate", "grpc BatchDelete"]
    assert await store.describe("docs") == IndexInfo(DIM, "openai/text-embedding-3-small")


async def test_numbers_compare_numerically_and_mixed_types_get_their_own_property(
    store: WeaviateStore, fake: FakeWeaviate
) -> None:
    records, _ = corpus(n=8)
    await store.upsert("docs", records)
    query = records[0].vector
    # numbers are `number` properties: 2 and 2.0 are equal, 2.5 equals nothing here
    assert {h.id for h in await store.query("docs", query, top_k=8, filter={"n": 2.0})} == {
        "doc-0002"
    }
    assert await store.query("docs", query, top_k=8, filter={"n": 2.5}) == []
    above = await store.query("docs", query, top_k=8, filter={"n": {"$gt": 5.5}})
    assert {h.id for h in above} == {"doc-0006", "doc-0007"}
    heavy = await store.query("docs", query, top_k=8, filter={"weight": {"$gte": 0}})
    assert len(heavy) == 8
    assert [h.metadata["n"] for h in heavy if h.id == "doc-0003"] == [3]  # int again
    # a string under `n` cannot share the number property: it gets `n__text`
    await store.upsert("docs", [Record("odd", query, "", {"n": "three"})])
    props = {p["name"]: p["dataType"][0] for p in fake.classes["Docs"]["properties"]}
    assert (props["n"], props["n__text"]) == ("number", "text")
    [odd] = await store.query("docs", query, top_k=1, filter={"n": "three"})
    assert (odd.id, odd.metadata) == ("odd", {"n": "three"})


async def test_missing_index_and_dimension_mismatch(store: WeaviateStore) -> None:
    assert await store.describe("nothing") is None
    assert await store.count("nothing") == 0
    with pytest.raises(IndexNotFound):
        await store.query("nothing", [1.0] * DIM, top_k=1)
    records, _ = corpus(n=2)
    await store.upsert("docs", records)
    with pytest.raises(IndexMismatch):
        await store.query("docs", [1.0, 2.0], top_k=1)
    with pytest.raises(IndexMismatch):
        await store.upsert("docs", [Record("short", [1.0, 2.0])])


async def test_names_weaviate_cannot_hold(store: WeaviateStore) -> None:
    assert collection_name("docs_v2") == "Docs_v2"
    for bad in ("my-docs", "2024docs"):
        with pytest.raises(InvalidIndexName):
            collection_name(bad)
    records, _ = corpus(n=1)
    for metadata in ({"has-dash": 1}, {"record_id": "x"}, {"nested": {"a": 1}}, {"x": None}):
        with pytest.raises(StoreError):
            await store.upsert("docs", [Record("a", records[0].vector, "", metadata)])


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (grpc.StatusCode.INTERNAL, True),
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.PERMISSION_DENIED, False),
    ],
)
async def test_grpc_failures_are_classified(
    store: WeaviateStore, fake: FakeWeaviate, code: grpc.StatusCode, retryable: bool
) -> None:
    records, _ = corpus(n=2)
    await store.upsert("docs", records)
    fake.fail_grpc.append(code)
    with pytest.raises(ProviderError) as caught:
        await store.query("docs", records[0].vector, top_k=1)
    assert caught.value.provider == "weaviate"
    assert caught.value.retryable is retryable
    [hit] = await store.query("docs", records[0].vector, top_k=1)  # the next attempt works
    assert hit.id == records[0].id


async def test_api_key_is_sent_and_kept_out_of_errors() -> None:
    with FakeWeaviate.running(api_key="wv-secret-0123456789") as fake:
        good = WeaviateStore(
            http_port=fake.http_port, grpc_port=fake.grpc_port, api_key="wv-secret-0123456789"
        )
        bad = WeaviateStore(
            http_port=fake.http_port, grpc_port=fake.grpc_port, api_key="wv-wrong-0123456789"
        )
        try:
            records, _ = corpus(n=2)
            assert await good.upsert("docs", records) == 2
            assert await good.count("docs") == 2
            with pytest.raises(ProviderError) as caught:
                await bad.count("docs")
            assert (caught.value.status, caught.value.retryable) == (401, False)
            assert "wv-wrong" not in str(caught.value)
        finally:
            await good.aclose()
            await bad.aclose()


async def test_from_uri(fake: FakeWeaviate) -> None:
    store = from_uri(f"weaviate://127.0.0.1:{fake.http_port}?grpc_port={fake.grpc_port}")
    try:
        records, _ = corpus(n=3)
        assert await store.upsert("docs", records) == 3
        assert await store.count("docs") == 3
    finally:
        await store.aclose()
    with pytest.raises(ProviderError, match="WV_KEY is not set"):
        from_uri("weaviate://127.0.0.1:8080?api_key_env=WV_KEY", env={})
    with pytest.raises(ValueError, match="unknown Weaviate URI parameter"):
        from_uri("weaviate://127.0.0.1:8080?grpc=1")

"""PineconeStore through the official client against a loopback Pinecone data plane."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio

from activities.vectorstores.base import IndexInfo, IndexMismatch, Record
from activities.vectorstores.pinecone import PineconeStore, from_uri
from interpreter.errors import ProviderError
from tests.vectorstores.fakes.pinecone_server import FakePinecone
from tests.vectorstores.remote_checks import CHECKS, DIM, corpus

KEY = "pc-test-0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[FakePinecone]:
    with FakePinecone.running(dimension=DIM, api_key=KEY) as server:
        yield server


@pytest_asyncio.fixture
async def store(fake: FakePinecone) -> AsyncIterator[PineconeStore]:
    pinecone = PineconeStore(host=fake.host, api_key=KEY)
    yield pinecone
    await pinecone.aclose()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_behaviour(
    store: PineconeStore, check: Callable[[PineconeStore, str], Awaitable[None]]
) -> None:
    await check(store, "docs")


async def test_wire_format_is_pinecones(store: PineconeStore, fake: FakePinecone) -> None:
    records, _ = corpus(n=3)
    await store.upsert("docs", records, namespace="ns")
    await store.query("docs", records[0].vector, top_k=2, filter={"n": {"$in": [0, 1]}},
                      namespace="ns")  # fmt: skip
    [upsert] = fake.requests("/vectors/upsert")
    assert upsert.headers["api-key"] == KEY
    assert upsert.body["namespace"] == "ns"
    assert upsert.body["vectors"][0]["metadata"]["record_text"] == records[0].text
    [query] = fake.requests("/query")
    assert query.body["topK"] == 2
    assert query.body["filter"] == {"n": {"$in": [0, 1]}}
    assert query.body["includeMetadata"] is True and query.body["includeValues"] is False


async def test_booleans_in_in_become_eq(store: PineconeStore, fake: FakePinecone) -> None:
    records, _ = corpus(n=6)
    await store.upsert("docs", records)
    hits = await store.query("docs", records[0].vector, top_k=6, filter={"even": {"$in": [True]}})
    assert sorted(h.id for h in hits) == ["doc-0000", "doc-0002", "doc-0004"]
    assert fake.requests("/query")[-1].body["filter"] == {"even": {"$eq": True}}


async def test_dimension_mismatch_is_caught_before_any_write(
    store: PineconeStore, fake: FakePinecone
) -> None:
    with pytest.raises(IndexMismatch, match="3 dimensions"):
        await store.upsert("docs", [Record("x", [1.0, 2.0, 3.0])])
    with pytest.raises(IndexMismatch):
        await store.create_index("docs", IndexInfo(DIM + 1))
    await store.create_index("docs", IndexInfo(DIM))
    assert await store.describe("docs") == IndexInfo(DIM)
    assert fake.requests("/vectors/upsert") == []


async def test_429_is_retryable_with_retry_after_then_the_next_attempt_succeeds(
    store: PineconeStore, fake: FakePinecone
) -> None:
    records, _ = corpus(n=2)
    await store.upsert("docs", records)
    fake.fail_next(429, "Too many requests", headers={"Retry-After": "3"})
    with pytest.raises(ProviderError) as caught:
        await store.query("docs", records[0].vector, top_k=1)
    error = caught.value
    assert (error.provider, error.status, error.retryable, error.retry_after) == (
        "pinecone", 429, True, 3.0,
    )  # fmt: skip
    assert "Too many requests" in str(error)
    assert len(fake.requests("/query")) == 1  # the client did not retry on its own
    [hit] = await store.query("docs", records[0].vector, top_k=1)  # Temporal's next attempt
    assert hit.id == records[0].id


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (400, False)])
async def test_status_classes(
    store: PineconeStore, fake: FakePinecone, status: int, retryable: bool
) -> None:
    await store.describe("docs")
    fake.fail_next(status)
    with pytest.raises(ProviderError) as caught:
        await store.count("docs")
    assert (caught.value.status, caught.value.retryable) == (status, retryable)


async def test_401_is_not_retryable_and_keeps_the_key_out(fake: FakePinecone) -> None:
    wrong = PineconeStore(host=fake.host, api_key="pc-wrong-key-0123456789")
    try:
        with pytest.raises(ProviderError) as caught:
            await wrong.count("docs")
        assert (caught.value.status, caught.value.retryable) == (401, False)
        fake.fail_next(401, "key pc-wrong-key-0123456789 is not valid")  # a chatty server
        with pytest.raises(ProviderError) as caught:
            await wrong.count("docs")
        assert "pc-wrong-key" not in str(caught.value) and "***" in str(caught.value)
    finally:
        await wrong.aclose()


async def test_unreachable_host_is_retryable() -> None:
    with FakePinecone.running(dimension=DIM, api_key=KEY) as gone:
        host = gone.host
    store = PineconeStore(host=host, api_key=KEY)
    try:
        with pytest.raises(ProviderError) as caught:
            await store.count("docs")
        assert caught.value.retryable and caught.value.status is None
    finally:
        await store.aclose()


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_PINECONE_KEY", raising=False)
    with pytest.raises(ProviderError, match="MY_PINECONE_KEY is not set") as caught:
        from_uri("pinecone://127.0.0.1:5081?api_key_env=MY_PINECONE_KEY&tls=false")
    assert not caught.value.retryable


async def test_from_uri_reaches_the_index(fake: FakePinecone) -> None:
    port = fake.host.rsplit(":", 1)[1]
    store = from_uri(
        f"pinecone://127.0.0.1:{port}?api_key_env=PC_KEY&tls=false&batch_size=2",
        env={"PC_KEY": KEY},
    )
    try:
        records, _ = corpus(n=5)
        assert await store.upsert("docs", records) == 5
        assert len(fake.requests("/vectors/upsert")) == 3
        assert await store.count("docs") == 5
    finally:
        await store.aclose()


def test_uri_errors() -> None:
    with pytest.raises(ValueError, match="not a Pinecone"):
        from_uri("weaviate://127.0.0.1:8080", env={"PINECONE_API_KEY": KEY})
    with pytest.raises(ValueError, match="unknown Pinecone URI parameter"):
        from_uri("pinecone://h.example.com?colour=red", env={"PINECONE_API_KEY": KEY})

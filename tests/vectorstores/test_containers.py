"""The same behaviour against real Weaviate and Pinecone Local images, through testcontainers.

Skipped, with the reason shown, where no Docker engine answers (as on the development
machines and CI of this project); the loopback fakes in ``fakes/`` cover the wire formats
there. The real services also check the fakes: what passes here must pass there.
"""

from __future__ import annotations

import gc
import time
import urllib.request
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from activities.vectorstores.pinecone import PineconeStore
from activities.vectorstores.weaviate import WeaviateStore
from tests.vectorstores.remote_checks import CHECKS, DIM, fresh_index

WEAVIATE_IMAGE = "cr.weaviate.io/semitechnologies/weaviate:1.32.4"
PINECONE_IMAGE = "ghcr.io/pinecone-io/pinecone-index:latest"


def _docker_problem() -> str | None:
    # docker-py leaves the socket of a client it failed to build (no engine) to the
    # garbage collector; collect it here, quietly, not as a ResourceWarning in a later test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env()
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # any failure to reach the engine means: skip
            return f"no Docker engine: {type(exc).__name__}: {exc}"
        finally:
            gc.collect()
    return None


@pytest.fixture(scope="module")
def docker_engine() -> None:
    problem = _docker_problem()
    if problem:
        pytest.skip(problem)


def _wait_http(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def weaviate_ports(docker_engine: None) -> Iterator[tuple[int, int]]:
    from testcontainers.core.container import DockerContainer

    container: Any = (
        DockerContainer(WEAVIATE_IMAGE)
        .with_env("AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED", "true")
        .with_env("DEFAULT_VECTORIZER_MODULE", "none")
        .with_env("AUTOSCHEMA_ENABLED", "false")  # as the loopback fake behaves
        .with_env("PERSISTENCE_DATA_PATH", "/var/lib/weaviate")
        .with_env("CLUSTER_HOSTNAME", "node1")
        .with_exposed_ports(8080, 50051)
    )
    with container:
        http_port = int(container.get_exposed_port(8080))
        grpc_port = int(container.get_exposed_port(50051))
        _wait_http(f"http://{container.get_container_host_ip()}:{http_port}/v1/.well-known/ready")
        yield http_port, grpc_port


@pytest_asyncio.fixture
async def weaviate_store(weaviate_ports: tuple[int, int]) -> AsyncIterator[WeaviateStore]:
    http_port, grpc_port = weaviate_ports
    store = WeaviateStore(http_host="127.0.0.1", http_port=http_port, grpc_port=grpc_port)
    yield store
    await store.aclose()


@pytest.fixture
def pinecone_host(docker_engine: None) -> Iterator[str]:
    """A fresh Pinecone Local index per test: one index host is one index."""
    from testcontainers.core.container import DockerContainer

    container: Any = (
        DockerContainer(PINECONE_IMAGE)
        .with_env("PORT", "5081")
        .with_env("INDEX_TYPE", "serverless")
        .with_env("VECTOR_TYPE", "dense")
        .with_env("DIMENSION", str(DIM))
        .with_env("METRIC", "cosine")
        .with_exposed_ports(5081)
    )
    with container:
        host = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(5081)}"
        deadline = time.monotonic() + 60
        while True:  # the index answers describe_index_stats once it is up
            try:
                request = urllib.request.Request(
                    f"{host}/describe_index_stats", data=b"{}", method="POST",
                    headers={"Api-Key": "pclocal", "Content-Type": "application/json"},
                )  # fmt: skip
                with urllib.request.urlopen(request, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield host


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_weaviate_image(
    weaviate_store: WeaviateStore, check: Callable[[WeaviateStore, str], Awaitable[None]]
) -> None:
    await check(weaviate_store, fresh_index())


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_pinecone_local_image(
    pinecone_host: str, check: Callable[[PineconeStore, str], Awaitable[None]]
) -> None:
    store = PineconeStore(host=pinecone_host, api_key="pclocal")
    try:
        await check(store, "docs")
    finally:
        await store.aclose()

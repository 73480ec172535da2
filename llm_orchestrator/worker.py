"""Wire a client, `DagWorkflow` and the activity registry into a Temporal worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from opentelemetry.trace import TracerProvider
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import HEARTBEAT_SECONDS, ActivitySettings, WorkerActivities, WorkerConfig
from activities.telemetry import StepTelemetry
from interpreter.contract import DEFAULT_TASK_QUEUE
from interpreter.workflow import DagWorkflow
from llm_orchestrator.options import GRACEFUL_SHUTDOWN

__all__ = ["GRACEFUL_SHUTDOWN", "build_worker", "run_worker", "workflow_runner"]


def workflow_runner() -> UnsandboxedWorkflowRunner:
    """How workers (and the replay tests) run `DagWorkflow`: without the workflow sandbox.

    The sandbox re-imports the workflow's modules for every run and proxies each call
    out of them: about half the worker CPU a run costs. `DagWorkflow` is our own code
    and runs no user Python, so determinism is guarded by tests instead (an AST check
    of its import closure, the replay of recorded histories); see docs/runtime.md,
    "Determinism without the sandbox".
    """
    return UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    activities: WorkerActivities,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_concurrent_activities: int = 100,
    max_cached_workflows: int = 1000,
    custom_activities: Sequence[Callable[..., Any]] = (),
    tracer_provider: TracerProvider | None = None,
    graceful_shutdown: timedelta = timedelta(0),
) -> Worker:
    """A worker for `DagWorkflow`; ``custom_activities`` serve `action: <their name>` steps.

    ``graceful_shutdown``: how long steps in flight may finish once the worker stops
    (:data:`GRACEFUL_SHUTDOWN` for the CLI's workers, via :func:`run_worker`).
    Step metrics go to the client's runtime meter (the Prometheus endpoint, when
    one is configured); step spans to ``tracer_provider``, else the global one.
    A heartbeat reaches the server at most ``HEARTBEAT_SECONDS`` after it is
    recorded (the SDK would hold it up to 30-60 s), so cancelling a run stops
    its waiting calls within about that long.
    """
    runtime = client.service_client.config.runtime or Runtime.default()
    meter = runtime.metric_meter.with_additional_attributes(
        {"namespace": client.namespace, "task_queue": task_queue}
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[DagWorkflow],
        activities=[*activities.all(), *custom_activities],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
        interceptors=[
            StepTelemetry(
                meter,
                tracer_provider=tracer_provider,
                capture_content=activities.settings.capture_content,
            )
        ],
        max_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_SECONDS),
        default_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_SECONDS),
        graceful_shutdown_timeout=graceful_shutdown,
    )


async def run_worker(
    client: Client,
    settings: ActivitySettings,
    *,
    config: WorkerConfig | None = None,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_concurrent_activities: int = 100,
    max_cached_workflows: int = 1000,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run a worker until ``stop`` is set (or forever), then close shared clients.

    ``ready`` is set once the worker runs on ``client``: a start through that client
    can then be eager (`run`'s in-process worker)."""
    activities = WorkerActivities(settings, config)
    worker = build_worker(
        client,
        activities,
        task_queue=task_queue,
        max_concurrent_activities=max_concurrent_activities,
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    try:
        async with worker:
            if ready is not None:
                ready.set()
            await (stop or asyncio.Event()).wait()
    finally:
        await activities.aclose()

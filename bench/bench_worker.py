"""The benchmark's worker process: `DagWorkflow` and the hand-written workflows, same activities.

    python bench/bench_worker.py --address HOST:PORT --dag-queue Q1 --hand-queue Q2
                                 [--max-cached-workflows 1000]

Run by ``bench/bench_interpreter.py`` as a process of its own, so that its CPU time and
memory belong to the workflows it runs and nothing else. Two workers share one client and
one set of activities: ``DagWorkflow`` exactly as ``llm-orchestrator worker`` builds it
(``build_worker``) on one task queue, the hand-written workflows (``bench/handwritten.py``)
on another, with the same activities, activity interceptor and worker options but
Temporal's default workflow sandbox. Prints ``ready`` once both poll; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio import activity  # noqa: E402
from temporalio.runtime import Runtime  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities import HEARTBEAT_SECONDS, ActivitySettings, WorkerActivities  # noqa: E402
from activities.telemetry import StepTelemetry  # noqa: E402
from bench.handwritten import HANDWRITTEN  # noqa: E402
from llm_orchestrator.connect import connect  # noqa: E402
from llm_orchestrator.worker import build_worker  # noqa: E402

MAX_CONCURRENT_ACTIVITIES = 100
"""``build_worker``'s default: a 100-way fan-out runs all its steps at once on both sides."""


@activity.defn(name="bench_echo")
async def bench_echo(params: dict[str, Any]) -> dict[str, Any]:
    """A no-op step: returns its parameters (the chain's steps)."""
    return params


@activity.defn(name="bench_sleep")
async def bench_sleep(params: dict[str, Any]) -> dict[str, Any]:
    """A step that takes ``ms`` milliseconds without using the CPU (the fan-outs' steps)."""
    await asyncio.sleep(float(params["ms"]) / 1000)
    return {"i": params.get("i")}


CUSTOM = [bench_echo, bench_sleep]


async def _main(args: argparse.Namespace) -> None:
    client = await connect(args.address, wait=30)
    activities = WorkerActivities(ActivitySettings.from_env(catalog_dir=ROOT / "examples"))
    dag = build_worker(
        client,
        activities,
        task_queue=args.dag_queue,
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        max_cached_workflows=args.max_cached_workflows,
        custom_activities=CUSTOM,
    )
    runtime = client.service_client.config.runtime or Runtime.default()
    meter = runtime.metric_meter.with_additional_attributes(
        {"namespace": client.namespace, "task_queue": args.hand_queue}
    )
    hand = Worker(
        client,
        task_queue=args.hand_queue,
        workflows=HANDWRITTEN,
        activities=[*activities.all(), *CUSTOM],
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        max_cached_workflows=args.max_cached_workflows,
        interceptors=[StepTelemetry(meter)],
        max_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_SECONDS),
        default_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_SECONDS),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        async with dag, hand:
            print("ready", flush=True)
            await stop.wait()
    finally:
        await activities.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--dag-queue", required=True)
    parser.add_argument("--hand-queue", required=True)
    parser.add_argument("--max-cached-workflows", type=int, default=1000)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()

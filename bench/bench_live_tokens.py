"""Measure live tokens: the delay per batch, and what streaming adds to a step's duration.

    python bench/bench_live_tokens.py [--rounds 5] [--words 100] [--pace-ms 20] [--port 17400]

Starts its own tuned `temporal server start-dev` (loopback, SQLite in a temp dir), an
LLMock server (an independent OpenAI-compatible fake) that streams one word every
``--pace-ms``, and an in-process worker. Then, interleaved for ``--rounds`` rounds, one
`llm` step that writes ``--words`` words:

* ``stream: false`` (LLMock answers at once: no pacing);
* ``stream: true`` with nobody subscribed, and with publishing switched off in the
  worker (the bench replaces the activity's publisher by a no-op): the streamed call alone;
* ``stream: true`` published, with nobody subscribed;
* ``stream: true`` published, with a subscriber (what `run` and `watch` do), which
  records for every batch the delay from the publisher's clock at send time to the
  subscriber receiving it (same host, same clock).

Prints a Markdown section: the step's duration (median of the rounds) per case, the
delay per batch (median, p90, max over all batches), and the stream events in the
history (signals, Updates) against the words. The figures live in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmock.pytest_plugin import LLMock  # noqa: E402
from llmock.testing import LLMockServer  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.contrib.workflow_streams import WorkflowStreamClient  # noqa: E402

from activities import ActivitySettings, WorkerActivities, model_steps  # noqa: E402
from activities.providers.config import ProviderSettings, load_worker_config  # noqa: E402
from interpreter.contract import TOKENS_TOPIC, RunResult, TokenBatch  # noqa: E402
from llm_orchestrator.connect import connect  # noqa: E402
from llm_orchestrator.devserver import DevServer  # noqa: E402
from llm_orchestrator.live_tokens import POLL_COOLDOWN  # noqa: E402
from llm_orchestrator.worker import build_worker  # noqa: E402

CASES = ("not streamed", "streamed, not published", "published", "published + subscriber")


def _definition(stream: bool) -> dict[str, Any]:
    return {
        "name": "bench-live-tokens",
        "steps": [
            {
                "id": "ask",
                "type": "llm",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "prompt": "Say many words",
                "stream": stream,
            }
        ],
    }


@contextlib.asynccontextmanager
async def _unpublished() -> AsyncIterator[None]:
    yield


async def _one(
    client: Client, task_queue: str, case: str, delays: list[float]
) -> tuple[int, dict[str, int]]:
    """One run of ``case``: the step's duration (ms) and the stream events in its history."""
    original = model_steps.live_tokens.publishing
    if case == "streamed, not published":
        model_steps.live_tokens.publishing = lambda *_, **__: _unpublished()  # type: ignore[assignment]
    try:
        handle = await client.start_workflow(
            "DagWorkflow",
            {"definition": _definition(case != "not streamed"), "records": True},
            id=f"bench-{uuid.uuid4().hex[:10]}",
            task_queue=task_queue,
            result_type=RunResult,
        )
        reading = None
        if case == "published + subscriber":
            reading = asyncio.ensure_future(_subscribe(client, handle.id, delays))
        result = await handle.result()
        if reading is not None:
            await asyncio.wait_for(reading, 30)
    finally:
        model_steps.live_tokens.publishing = original  # type: ignore[method-assign]
    counts = {"signals": 0, "updates": 0, "events": 0}
    async for event in handle.fetch_history_events():
        counts["events"] += 1
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            counts["signals"] += 1
        elif event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        ):
            counts["updates"] += 1
    duration = result.steps["ask"].duration_ms
    assert duration is not None
    return duration, counts


async def _subscribe(client: Client, workflow_id: str, delays: list[float]) -> None:
    stream = WorkflowStreamClient.create(client, workflow_id)
    async for item in stream.subscribe(
        [TOKENS_TOPIC], result_type=TokenBatch, poll_cooldown=POLL_COOLDOWN
    ):
        if item.data.text:
            delays.append((time.time() - item.data.sent_at) * 1000)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _main(args: argparse.Namespace) -> int:
    reply = " ".join(f"word{i}" for i in range(args.words))
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-key")  # LLMock ignores it
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, LLMockServer() as mock:
        LLMock(mock).pace(args.pace_ms).reply(reply, times=None)
        server = DevServer(port=args.port, ui_port=None, db_file=Path(tmp) / "t.db")
        server.start(log=Path(tmp) / "server.log")
        try:
            client = await connect(server.address, wait=30)
            config = load_worker_config(env={})
            openai = ProviderSettings(kind="openai", base_url=mock.base_url("openai"), http2=False)
            config = config.model_copy(update={"providers": {**config.providers, "openai": openai}})
            activities = WorkerActivities(
                ActivitySettings(catalog_dir=ROOT / "examples", vectors_dir=Path(tmp) / "v"),
                config,
            )
            task_queue = f"bench-{uuid.uuid4().hex[:8]}"
            durations: dict[str, list[int]] = {case: [] for case in CASES}
            history: dict[str, dict[str, int]] = {}
            delays: list[float] = []
            async with build_worker(client, activities, task_queue=task_queue):
                await _one(client, task_queue, "published", [])  # warm-up
                for _ in range(args.rounds):
                    for case in CASES:
                        duration, counts = await _one(client, task_queue, case, delays)
                        durations[case].append(duration)
                        history[case] = counts
            await activities.aclose()
        finally:
            server.stop()
    lines = [
        f"{args.words} words, LLMock pacing {args.pace_ms} ms per word (the non-streamed "
        f"answer is not paced), {args.rounds} interleaved rounds, tuned dev server, one "
        "in-process worker:",
        "",
        "| case | step duration (median) | signals | Updates | history events |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        counts = history[case]
        lines.append(
            f"| {case} | {statistics.median(durations[case]):.0f} ms | {counts['signals']} | "
            f"{counts['updates']} | {counts['events']} |"
        )
    lines += [
        "",
        f"Delay per batch, publisher → subscriber ({len(delays)} batches): median "
        f"{statistics.median(delays):.0f} ms, p90 {_pct(delays, 0.9):.0f} ms, "
        f"max {max(delays):.0f} ms.",
    ]
    print("\n".join(lines))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--pace-ms", type=int, default=20)
    parser.add_argument("--port", type=int, default=17400)
    args = parser.parse_args()
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())

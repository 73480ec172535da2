"""Live tokens: a streamed `llm` step's text, published in batches to its run's stream.

A provider's streaming loop calls :func:`text_arrived` for each piece of text; with no
publisher active (agent turns, tests calling a provider directly) that is a no-op.
The `llm` activity opens :func:`publishing` around a streamed call: the pieces are
joined and sent every :data:`BATCH_SECONDS` as one :class:`TokenBatch` through
Temporal's Workflow Streams (one signal per batch to the workflow that hosts the
stream, never one per token). The hook is a context variable, like the activity
context the providers already heartbeat through, so each concurrent activity
publishes its own step's text.

Steps inside child runs (`map` items, `loop` iterations, `workflow` steps) publish to
the top run's stream, so one subscriber sees every token of the run; a batch names
the child run it came from. Tokens are a preview: a failed publish is logged once
and the step goes on; the step's output is what its result says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamClient

from interpreter.contract import TOKENS_TOPIC, TokenBatch

__all__ = ["BATCH_SECONDS", "publishing", "text_arrived"]

BATCH_SECONDS = 0.2
"""How often the text gathered so far is sent: latency to the viewer vs signals in history."""


_sink: ContextVar[Callable[[str], None] | None] = ContextVar("live_tokens_sink", default=None)


def text_arrived(text: str) -> None:
    """A piece of a streamed reply arrived (call it from a provider's streaming loop)."""
    sink = _sink.get()
    if sink is not None and text:
        sink(text)


@contextlib.asynccontextmanager
async def publishing(step: str, *, batch_seconds: float = BATCH_SECONDS) -> AsyncIterator[None]:
    """Publish what :func:`text_arrived` receives inside the block, in batches, to the
    stream of the run that scheduled this activity (its top run, for a child's step)."""
    info = activity.info()
    run = info.workflow_id or ""
    try:
        client = activity.client()
    except RuntimeError:  # an activity run outside a worker (a unit test): no stream
        yield
        return
    target = await _top_run(client, run)
    stream = WorkflowStreamClient(client.get_workflow_handle(target), client=client)
    tokens = stream.topic(TOKENS_TOPIC, type=TokenBatch)
    pieces: list[str] = []
    failed = False

    async def send(*, done: bool) -> None:
        nonlocal failed
        if failed or not (pieces or done):
            return
        text = "".join(pieces)
        pieces.clear()
        tokens.publish(
            TokenBatch(
                step=step, text=text, run=run, attempt=info.attempt, done=done, sent_at=time.time()
            )
        )
        try:
            await stream.flush()
        except Exception as exc:  # tokens are a preview: the step must not fail for them
            failed = True
            activity.logger.warning("%s: live tokens stopped: %s", step, exc)

    async def every_batch() -> None:
        while True:
            await asyncio.sleep(batch_seconds)
            await send(done=False)

    token = _sink.set(pieces.append)
    sender = asyncio.create_task(every_batch())
    try:
        yield
    finally:
        _sink.reset(token)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await send(done=True)


async def _top_run(client: Client, workflow_id: str) -> str:
    """The workflow id of the top run: the run itself, or the root of a child's run (a
    child's id is its parent's plus ``/...``, so an id without ``/`` is a top run)."""
    if "/" not in workflow_id:
        return workflow_id
    try:
        described = await client.get_workflow_handle(workflow_id).describe(
            rpc_timeout=timedelta(seconds=5)
        )
    except Exception as exc:  # tokens are a preview: fall back to the child's own stream
        activity.logger.warning("live tokens: could not find the top run: %s", exc)
        return workflow_id
    root = described.raw_description.workflow_execution_info.root_execution
    return root.workflow_id or workflow_id

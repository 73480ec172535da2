"""Heartbeat while an activity waits, so a cancelled run stops its calls.

Temporal tells an activity it was cancelled only in the answer to a heartbeat.
A call that waits for a slow model (or webhook) without heartbeating would run
on after its run was cancelled, holding the vendor's connection and spending
tokens. Used around non-streamed model and embedding calls, local embedding,
`http` actions and the whole `vector_search` step; a streamed reply heartbeats
on each chunk instead, so that a stalled stream still misses its heartbeats.

:func:`heartbeating` heartbeats every :data:`HEARTBEAT_SECONDS` (or half the
activity's heartbeat timeout, when that is shorter) while its block runs, like
the ``auto_heartbeater`` of Temporal's samples-python. The SDK cancels the
activity's task when the cancellation arrives; the block's ``await`` receives
the ``CancelledError`` and httpx closes the connection, so the server sees the
request go away.

The worker sends heartbeats to the server at most every ``HEARTBEAT_SECONDS``
(``llm_orchestrator.worker`` sets the SDK's throttle to it), so a cancellation
reaches a waiting call within about that long. The workflow's heartbeat timeout of
three intervals (15 s, `defaults.heartbeat_timeout`) allows two late beats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import activity

__all__ = ["HEARTBEAT_SECONDS", "heartbeating"]

HEARTBEAT_SECONDS = 5.0
"""How often a waiting activity heartbeats, and the worker's heartbeat throttle."""


def _heartbeat_interval() -> float:
    """Seconds between heartbeats for the current activity."""
    timeout = activity.info().heartbeat_timeout
    if timeout is not None and timeout.total_seconds() > 0:
        return min(HEARTBEAT_SECONDS, timeout.total_seconds() / 2)
    return HEARTBEAT_SECONDS


async def _beat(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        activity.heartbeat()


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while the block runs (nothing outside an activity).

    Cancellation is not intercepted: it reaches the awaited call in the block.
    """
    if not activity.in_activity() or activity.info().is_local:
        # a local activity cannot heartbeat: its workflow task is its lease
        yield
        return
    beat = asyncio.create_task(_beat(_heartbeat_interval()))
    try:
        yield
    finally:
        beat.cancel()
        await asyncio.wait([beat])

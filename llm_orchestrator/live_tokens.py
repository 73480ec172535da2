"""Read a run's live tokens (its Workflow Stream) for `run` and `watch`.

Each poll is a Temporal Update that waits in the workflow until a batch arrives; once
the run has closed, what it retained is read by a Query (a worker replays the run to
answer it) and the subscription ends. Tokens are a preview of the outputs the result
carries: a subscription that fails stops quietly (logged at debug level).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.contrib.workflow_streams import WorkflowStreamClient

from interpreter.contract import TOKENS_TOPIC, TokenBatch
from llm_orchestrator.progress import Reporter

__all__ = ["POLL_COOLDOWN", "print_tokens", "streams_tokens"]

POLL_COOLDOWN = timedelta(milliseconds=50)
"""Pause after an answered poll: batches arriving meanwhile come together in the next."""

_log = logging.getLogger(__name__)


async def print_tokens(client: Client, workflow_id: str, reporter: Reporter) -> None:
    """Print every batch of the run's tokens until the run has closed and all are read."""
    stream = WorkflowStreamClient.create(client, workflow_id)
    try:
        async for item in stream.subscribe(
            [TOKENS_TOPIC], result_type=TokenBatch, poll_cooldown=POLL_COOLDOWN
        ):
            reporter.tokens(item.data, top=workflow_id)
    except Exception as exc:  # a preview: the result still comes
        _log.debug("live tokens of %s stopped: %s", workflow_id, exc)
    finally:
        reporter.end_tokens()


def streams_tokens(definition: Any) -> bool:
    """Whether a definition (a parsed one or its data) has an `llm` step with
    ``stream: true`` anywhere, in groups, bodies and library workflows included."""
    data = definition.model_dump() if hasattr(definition, "model_dump") else definition
    return any(node.get("type") == "llm" and node.get("stream") is True for node in _mappings(data))


def _mappings(value: Any) -> Iterable[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)

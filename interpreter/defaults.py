"""The code's own defaults: what applies when neither a step nor the file's `defaults` say."""

from __future__ import annotations

from interpreter.fields import FallbackOn, RetryPolicy

STEP_TIMEOUT_SECONDS = 300.0
"""Start-to-close timeout of one attempt of a step's activity."""

RETRY = RetryPolicy(
    max_attempts=3, initial_interval=1.0, backoff_coefficient=2.0, max_interval=60.0
)
"""Retry policy of a step's activity."""

LLM_PROVIDER = "openai"
LLM_MODEL = "gpt-4o-mini"
EMBEDDING_PROVIDER = "openai"
EMBEDDING_MODEL = "text-embedding-3-small"

REPAIR_ATTEMPTS = 2
"""Extra turns an `llm` step with a JSON `response_format` may spend asking the model to
fix a reply that does not parse or match the schema."""

FALLBACK_ON: FallbackOn = "transient"
"""Which failures move a fallback chain on (see ``interpreter.errors.TRANSIENT_ERRORS``)."""

STREAM_HEARTBEAT_SECONDS = 30.0
"""A streamed `llm` step that receives no token for this long (or half its timeout,
if shorter) is retried: the stream is dead even if its connection is open."""

HEARTBEAT_TIMEOUT_SECONDS = 15.0
"""A built-in step activity that has not heartbeated for this long (or half its timeout,
if shorter) is presumed lost with its worker and retried elsewhere. Activities beat
every 5 s while they wait (``activities._heartbeat``), so this allows two late beats;
``defaults.heartbeat_timeout`` in a file overrides it."""

RESOLVE_TIMEOUT_SECONDS = 30.0
"""Timeout for reading a workflow file from the worker's catalog."""

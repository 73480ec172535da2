"""The step cache: model answers kept across runs (stores in :mod:`activities.cache.store`,
the activities' side in :mod:`activities.cache.steps`)."""

from activities.cache.steps import NOTE_CACHED, StepCacheUse, cached, step_key
from activities.cache.store import (
    CacheStats,
    CacheUnavailable,
    PostgresCache,
    SqliteCache,
    StepCache,
    open_cache,
    request_key,
)

__all__ = [
    "NOTE_CACHED",
    "CacheStats",
    "CacheUnavailable",
    "PostgresCache",
    "SqliteCache",
    "StepCache",
    "StepCacheUse",
    "cached",
    "open_cache",
    "request_key",
    "step_key",
]

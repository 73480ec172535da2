"""The step cache: model answers kept across runs (see :mod:`activities.cache.store`)."""

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
    "CacheStats",
    "CacheUnavailable",
    "PostgresCache",
    "SqliteCache",
    "StepCache",
    "open_cache",
    "request_key",
]

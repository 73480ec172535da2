"""`llm-orchestrator cache stats|clear [--expired]`: look at and empty the step cache.

The flags are in ``llm_orchestrator.commands``; this module is imported when the command runs.

The store is the one workers use: ``--cache`` or ``LLM_ORCHESTRATOR_CACHE`` (a SQLite
path or a ``postgresql://`` URL), else the SQLite file in the state directory
(docs/cache.md).
"""

from __future__ import annotations

import argparse
import json
import sys

from activities.cache import CacheUnavailable, StepCache, open_cache
from activities.settings import ActivitySettings, state_dir
from llm_orchestrator.exits import ExitCode, SetupError

__all__ = ["clear", "stats"]


def _store(args: argparse.Namespace) -> StepCache:
    return open_cache(args.cache or ActivitySettings.from_env().cache_url, state_dir())


def stats(args: argparse.Namespace) -> int:
    """Print where the store is, its entries (expired ones too) and their size."""
    store = _store(args)
    try:
        stats = store.stats()
    except CacheUnavailable as exc:
        raise SetupError(str(exc)) from None
    if args.json:
        print(
            json.dumps(
                {
                    "store": stats.where,
                    "entries": stats.entries,
                    "expired": stats.expired,
                    "bytes": stats.bytes,
                }
            )
        )
    else:
        print(f"store    {stats.where}")
        print(f"entries  {stats.entries} ({stats.expired} expired)")
        print(f"size     {_size(stats.bytes)}")
    return ExitCode.OK


def clear(args: argparse.Namespace) -> int:
    """Delete every entry, or only the expired ones (``--expired``)."""
    store = _store(args)
    try:
        removed = store.clear(expired_only=args.expired)
    except CacheUnavailable as exc:
        raise SetupError(str(exc)) from None
    what = "expired entries" if args.expired else "entries"
    print(f"removed {removed} {what} from {store.where}", file=sys.stderr)
    return ExitCode.OK


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"

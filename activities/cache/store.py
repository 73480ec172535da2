"""Where model steps keep answers across runs: a small interface and its two stores.

A key is a hash of the fully rendered request (:func:`request_key`), or of a key the
step gives; the value is what the step returned (output, extras, usage). Entries
expire. Two stores:

* :class:`SqliteCache` — the embedded default, one file in the state directory
  (``$XDG_STATE_HOME/llm-orchestrator/step-cache.sqlite3``): WAL mode and a busy
  timeout, so several worker processes on one machine write it safely;
* :class:`PostgresCache` — for workers on several machines (the compose stack's
  database): one table, written with ``INSERT … ON CONFLICT``.

Both are plain ``sqlite3``/``psycopg`` rather than a caching library: each is one
table and three statements, and a library (``diskcache``) would add a second on-disk
format for the same job without covering PostgreSQL.

A store that cannot be used (a corrupt or read-only file, a database that is down)
raises :class:`CacheUnavailable`; the step then runs uncached and says so in the
worker's log — a cache never fails a run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "CacheStats",
    "CacheUnavailable",
    "PostgresCache",
    "SqliteCache",
    "StepCache",
    "open_cache",
    "request_key",
]


class CacheUnavailable(Exception):
    """The store cannot be read or written; the message says which and why."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    entries: int
    expired: int
    bytes: int
    where: str


class StepCache(Protocol):
    """What a model step needs of a cache."""

    where: str
    """The store, for messages (a path or a database URL without its password)."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The live entry under ``key``, or ``None``."""
        ...

    def put(self, key: str, value: dict[str, Any], ttl_s: float | None) -> None:
        """Store ``value``; the first writer of a key wins, later ones change nothing."""
        ...

    def stats(self) -> CacheStats: ...

    def clear(self, *, expired_only: bool = False) -> int:
        """Delete entries (all, or only the expired ones); returns how many."""
        ...


def request_key(kind: str, request: Any) -> str:
    """The key of a rendered request: SHA-256 of its canonical JSON, prefixed by kind."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _expiry(ttl_s: float | None) -> float | None:
    return None if ttl_s is None else time.time() + ttl_s


_SETUP_SECONDS = 10.0
"""How long opening the SQLite store waits for another process holding it."""


class SqliteCache:
    """The embedded store: one SQLite file, safe for several processes on one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def _connect(self) -> sqlite3.Connection:
        deadline = time.monotonic() + _SETUP_SECONDS
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                # two processes setting up a new file at once: switching it to WAL takes a
                # lock that SQLite's busy timeout does not wait for, so wait here
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise CacheUnavailable(f"step cache {self.path}: {exc}") from None
                time.sleep(0.05)
            except (sqlite3.Error, OSError) as exc:
                raise CacheUnavailable(f"step cache {self.path}: {exc}") from None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=_SETUP_SECONDS, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS step_cache ("
                " key TEXT PRIMARY KEY, value TEXT NOT NULL,"
                " created REAL NOT NULL, expires REAL)"
            )
        except BaseException:
            db.close()
            raise
        return db

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"step cache {self.path}: {exc}") from None
        finally:
            db.close()

    def get(self, key: str) -> dict[str, Any] | None:
        rows = self._run(
            "SELECT value FROM step_cache WHERE key = ? AND (expires IS NULL OR expires > ?)",
            (key, time.time()),
        )
        if not rows:
            return None
        try:
            value: dict[str, Any] = json.loads(rows[0][0])
        except ValueError:  # a damaged entry is a miss, and goes
            self._run("DELETE FROM step_cache WHERE key = ?", (key,))
            return None
        return value

    def put(self, key: str, value: dict[str, Any], ttl_s: float | None) -> None:
        now = time.time()
        self._run(
            "INSERT INTO step_cache (key, value, created, expires) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "created = excluded.created, expires = excluded.expires "
            "WHERE step_cache.expires IS NOT NULL AND step_cache.expires <= ?",
            (key, json.dumps(value), now, _expiry(ttl_s), now),
        )

    def stats(self) -> CacheStats:
        now = time.time()
        rows = self._run(
            "SELECT COUNT(*), COALESCE(SUM(expires IS NOT NULL AND expires <= ?), 0),"
            " COALESCE(SUM(LENGTH(value)), 0) FROM step_cache",
            (now,),
        )
        entries, expired, size = rows[0]
        return CacheStats(int(entries), int(expired), int(size), self.where)

    def clear(self, *, expired_only: bool = False) -> int:
        before = self.stats()
        if expired_only:
            self._run(
                "DELETE FROM step_cache WHERE expires IS NOT NULL AND expires <= ?", (time.time(),)
            )
        else:
            self._run("DELETE FROM step_cache")
        return before.entries - self.stats().entries


class PostgresCache:
    """The shared store for workers on several machines: one PostgreSQL table."""

    TABLE = "llm_orchestrator_step_cache"

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = _without_password(url)
        self._ready = False

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
                if not self._ready:
                    db.execute(
                        f"CREATE TABLE IF NOT EXISTS {self.TABLE} ("
                        " key TEXT PRIMARY KEY, value JSONB NOT NULL,"
                        " created TIMESTAMPTZ NOT NULL DEFAULT now(), expires TIMESTAMPTZ)"
                    )
                    self._ready = True
                cursor = db.execute(sql.replace("{table}", self.TABLE), args)
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise CacheUnavailable(f"step cache {self.where}: {exc}".strip()) from None

    def get(self, key: str) -> dict[str, Any] | None:
        rows = self._run(
            "SELECT value FROM {table} WHERE key = %s AND (expires IS NULL OR expires > now())",
            (key,),
        )
        return dict(rows[0][0]) if rows else None

    def put(self, key: str, value: dict[str, Any], ttl_s: float | None) -> None:
        from psycopg.types.json import Jsonb

        self._run(
            "INSERT INTO {table} (key, value, expires) VALUES (%s, %s, now() + %s * interval "
            "'1 second') ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "created = now(), expires = excluded.expires "
            "WHERE {table}.expires IS NOT NULL AND {table}.expires <= now()",
            (key, Jsonb(value), ttl_s),
        )

    def stats(self) -> CacheStats:
        rows = self._run(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE expires <= now()),"
            " COALESCE(SUM(pg_column_size(value)), 0) FROM {table}"
        )
        entries, expired, size = rows[0]
        return CacheStats(int(entries), int(expired), int(size), self.where)

    def clear(self, *, expired_only: bool = False) -> int:
        where = " WHERE expires <= now()" if expired_only else ""
        rows = self._run(
            f"WITH gone AS (DELETE FROM {{table}}{where} RETURNING 1) SELECT COUNT(*) FROM gone"
        )
        return int(rows[0][0])


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_cache(url: str | None, state: Path) -> StepCache:
    """The store a URL names: ``postgresql://…``, ``sqlite:///PATH`` or a plain path;
    ``None`` or empty: the SQLite file in the state directory."""
    if not url:
        return SqliteCache(state / "step-cache.sqlite3")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresCache(url)
    return SqliteCache(
        Path(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url).expanduser()
    )

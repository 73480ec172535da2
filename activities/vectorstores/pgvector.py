"""PostgreSQL with pgvector, through psycopg 3 (async) and a small connection pool.

Layout, in one schema (default ``llm_orchestrator``, URI option ``schema``):

- ``indexes(name, dimension, embedder, created_at)`` — what each index was built with;
- one table per index: ``namespace text, id text, embedding vector(d), text text,
  metadata jsonb``, primary key (namespace, id), an HNSW index with
  ``vector_cosine_ops`` (up to 2,000 dimensions, pgvector's limit for ``vector``;
  build parameters ``m`` and ``ef_construction``) and a GIN index on ``metadata``
  for the filters' ``@>`` tests.

Every pooled connection sets ``hnsw.ef_search`` once (default
:data:`DEFAULT_EF_SEARCH`, URI option ``ef_search``): pgvector's own default of 40
misses a third of the true top 5 on clustered 384-d vectors at 100,000 rows
(docs/retrieval.md has the trade-off).

Search orders by cosine distance (``<=>``); a hit's score is ``1 - distance``.
Filtered searches use pgvector's iterative index scan (strict order), so a
selective filter still yields ``top_k`` results. Every value travels as a bound
parameter; identifiers are quoted by ``psycopg.sql``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexNotFound,
    Record,
    check_dimensions,
    check_index_name,
    prepare_upsert,
)
from activities.vectorstores.filters import parse, to_pg_sql

__all__ = ["DEFAULT_EF_SEARCH", "PgVectorStore", "from_uri"]

HNSW_MAX_DIMENSIONS = 2000
DEFAULT_EF_SEARCH = 100
"""Candidates the HNSW scan keeps per query; see the module docstring."""
DEFAULT_M = 16
"""HNSW links per node (pgvector's default)."""
DEFAULT_EF_CONSTRUCTION = 64
"""HNSW candidates while inserting (pgvector's default)."""
_OUR_OPTIONS = ("schema", "ef_search", "pool_size", "m", "ef_construction")


class PgVectorStore:
    """Indexes as tables in a PostgreSQL schema."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "llm_orchestrator",
        ef_search: int = DEFAULT_EF_SEARCH,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        pool_size: int = 4,
    ) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._ef_search = ef_search
        self._m = m
        self._ef_construction = ef_construction
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None
        self._ready = asyncio.Lock()
        self._info: dict[str, IndexInfo] = {}

    # --- connections ---------------------------------------------------------------

    async def _connections(self) -> AsyncConnectionPool:
        if self._pool is not None:
            return self._pool
        async with self._ready:
            if self._pool is None:
                # the extension must exist before its types can be registered
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute("SELECT pg_advisory_lock(hashtext('llm_orchestrator'))")
                    try:
                        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                        await conn.execute(
                            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                                sql.Identifier(self._schema)
                            )
                        )
                        await conn.execute(
                            sql.SQL(
                                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, "
                                "dimension integer NOT NULL, embedder text, "
                                "created_at timestamptz NOT NULL DEFAULT now())"
                            ).format(self._catalog())
                        )
                    finally:
                        await conn.execute(
                            "SELECT pg_advisory_unlock(hashtext('llm_orchestrator'))"
                        )
                pool = AsyncConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=self._pool_size,
                    configure=self._configure,
                    open=False,
                )
                await pool.open(wait=True)
                self._pool = pool
        assert self._pool is not None
        return self._pool

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Per pooled connection: vector types, and ef_search for the whole session (one
        statement per connection rather than one more round trip per query)."""
        await register_vector_async(conn)
        await conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(self._ef_search)))
        await conn.commit()  # the pool wants its connections idle, not in a transaction

    def _catalog(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self._schema), sql.Identifier("indexes"))

    def _table(self, index: str) -> sql.Composed:
        check_index_name(index)
        return sql.SQL("{}.{}").format(sql.Identifier(self._schema), sql.Identifier(index))

    # --- indexes -------------------------------------------------------------------

    async def describe(self, index: str) -> IndexInfo | None:
        check_index_name(index)
        if index in self._info:
            return self._info[index]
        pool = await self._connections()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT dimension, embedder FROM {} WHERE name = %s").format(
                    self._catalog()
                ),
                [index],
            )
            row = await cur.fetchone()
        if row is None:
            return None
        info = IndexInfo(int(row[0]), row[1])
        self._info[index] = info
        return info

    async def create_index(self, index: str, info: IndexInfo) -> None:
        table = self._table(index)
        pool = await self._connections()
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"llmo:{index}"])
            cur = await conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(self._catalog()), [index]
            )
            if await cur.fetchone() is not None:
                return
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (namespace text NOT NULL DEFAULT '', id text NOT NULL, "
                    "embedding vector({}) NOT NULL, text text NOT NULL DEFAULT '', "
                    "metadata jsonb NOT NULL DEFAULT '{{}}', PRIMARY KEY (namespace, id))"
                ).format(table, sql.Literal(info.dimension))
            )
            if info.dimension <= HNSW_MAX_DIMENSIONS:
                await conn.execute(
                    sql.SQL(
                        "CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops) "
                        "WITH (m = {}, ef_construction = {})"
                    ).format(
                        sql.Identifier(f"{index}_embedding_hnsw"),
                        table,
                        sql.Literal(self._m),
                        sql.Literal(self._ef_construction),
                    )
                )
            await conn.execute(
                sql.SQL("CREATE INDEX {} ON {} USING gin (metadata jsonb_path_ops)").format(
                    sql.Identifier(f"{index}_metadata_gin"), table
                )
            )
            await conn.execute(
                sql.SQL("INSERT INTO {} (name, dimension, embedder) VALUES (%s, %s, %s)").format(
                    self._catalog()
                ),
                [index, info.dimension, info.embedder],
            )

    async def _dimension(self, index: str) -> int:
        info = await self.describe(index)
        if info is None:
            raise IndexNotFound(f"index `{index}` does not exist in schema `{self._schema}`")
        return info.dimension

    # --- records -------------------------------------------------------------------

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        if not records:
            return 0
        await prepare_upsert(self, index, records)
        statement = sql.SQL(
            "INSERT INTO {} (namespace, id, embedding, text, metadata) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (namespace, id) DO UPDATE SET "
            "embedding = EXCLUDED.embedding, text = EXCLUDED.text, metadata = EXCLUDED.metadata"
        ).format(self._table(index))
        rows = [
            (
                namespace or "",
                r.id,
                np.asarray(r.vector, dtype=np.float32),
                r.text,
                Jsonb(r.metadata),
            )
            for r in records
        ]
        pool = await self._connections()
        async with pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(statement, rows)
        return len(records)

    def _where(
        self, namespace: str | None, filter: dict[str, Any] | None
    ) -> tuple[sql.Composable, list[Any], bool]:
        condition, params = to_pg_sql(parse(filter))
        where = sql.SQL("namespace = %s AND ") + sql.SQL(condition)
        return where, [namespace or "", *params], bool(filter)

    async def query(
        self,
        index: str,
        vector: list[float],
        *,
        top_k: int,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[Hit]:
        where, params, filtered = self._where(namespace, filter)
        dimension = await self._dimension(index)
        check_dimensions(index, dimension, {"the query": vector})
        if top_k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        statement = sql.SQL(
            "SELECT id, text, metadata, embedding, embedding <=> %s AS distance FROM {} "
            "WHERE {} ORDER BY embedding <=> %s LIMIT %s"
        ).format(self._table(index), where)
        pool = await self._connections()
        async with pool.connection() as conn, conn.transaction():
            if filtered:
                await conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            try:
                cur = await conn.execute(statement, [query, *params, query, top_k])
            except psycopg.errors.UndefinedTable:
                raise IndexNotFound(f"index `{index}` has no table in `{self._schema}`") from None
            rows = await cur.fetchall()
        hits = []
        for record_id, text, metadata, embedding, distance in rows:
            metadata = dict(metadata or {})
            hits.append(
                Hit(
                    record_id,
                    1.0 - float(distance) if distance == distance else 0.0,  # NaN: zero vector
                    text or str(metadata.get("text", "")),
                    metadata,
                    [float(x) for x in embedding.to_list()],
                )
            )
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits

    async def delete(
        self,
        index: str,
        ids: list[str] | None = None,
        *,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> int:
        where, params, filtered = self._where(namespace, filter)
        if ids is not None:
            if not ids:
                return 0
            where = where + sql.SQL(" AND id = ANY(%s)")
            params.append(list(dict.fromkeys(ids)))
        elif not filtered:
            return 0  # neither ids nor filter: delete nothing, never everything
        if await self.describe(index) is None:
            return 0
        pool = await self._connections()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(self._table(index), where), params
            )
            return int(cur.rowcount)

    async def count(
        self, index: str, *, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        where, params, _ = self._where(namespace, filter)
        if await self.describe(index) is None:
            return 0
        pool = await self._connections()
        async with pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._table(index), where),
                params,
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def from_uri(uri: str, *, env: Mapping[str, str] | None = None) -> PgVectorStore:
    """A store from ``postgresql://USER@HOST:PORT/DB?schema=NAME&ef_search=N&pool_size=N``
    (and ``m=N&ef_construction=N``, the HNSW build parameters of indexes it creates).

    The remaining query parameters go to libpq; passwords belong in ``PGPASSWORD``
    or ``~/.pgpass`` on the worker, not in a workflow file.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URI (postgresql://...): {uri!r}")
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OUR_OPTIONS:
            ours[key] = value
        else:
            rest.append((key, value))
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    return PgVectorStore(
        conninfo,
        schema=ours.get("schema", "llm_orchestrator"),
        ef_search=int(ours.get("ef_search", DEFAULT_EF_SEARCH)),
        m=int(ours.get("m", DEFAULT_M)),
        ef_construction=int(ours.get("ef_construction", DEFAULT_EF_CONSTRUCTION)),
        pool_size=int(ours.get("pool_size", "4")),
    )

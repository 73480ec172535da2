"""The embedded default: LanceDB in a local directory, no server.

One LanceDB table per index under the store's directory (by default the user's
state directory, see :func:`activities.settings.default_vectors_dir`).
Columns: ``namespace``, ``id``, ``vector`` (float32, fixed size), ``text`` and
``metadata`` (JSON).
The dimension and the embedder an index was built with are kept in the table's
schema metadata. Search is exact (flat) cosine with the filter applied before
ranking, so results equal brute force; a bitmap index on ``namespace`` keeps
per-namespace queries cheap. Upserts are ``merge_insert`` on (namespace, id).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.index import Bitmap

from activities.settings import default_vectors_dir
from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexNotFound,
    Record,
    check_dimensions,
    check_index_name,
    prepare_upsert,
)
from activities.vectorstores.filters import parse, to_lance_sql

__all__ = ["LanceStore", "from_uri"]

_DIMENSION_KEY = b"llm_orchestrator.dimension"
_EMBEDDER_KEY = b"llm_orchestrator.embedder"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _schema(info: IndexInfo) -> pa.Schema:
    return pa.schema(
        [
            pa.field("namespace", pa.string(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), info.dimension)),
            pa.field("text", pa.string()),
            pa.field("metadata", pa.json_(pa.utf8())),
        ],
        metadata={
            _DIMENSION_KEY: str(info.dimension).encode(),
            _EMBEDDER_KEY: (info.embedder or "").encode(),
        },
    )


class LanceStore:
    """Indexes as LanceDB tables in one directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db: lancedb.AsyncConnection | None = None
        self._tables: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def _connect(self) -> lancedb.AsyncConnection:
        if self._db is None:
            self.path.mkdir(parents=True, exist_ok=True)
            # other processes (`llm-orchestrator index`) write too: check for new
            # versions on every read
            self._db = await lancedb.connect_async(
                str(self.path), read_consistency_interval=timedelta(0)
            )
        return self._db

    async def _table(self, index: str) -> Any | None:
        check_index_name(index)
        table = self._tables.get(index)
        if table is not None:
            return table
        db = await self._connect()
        try:
            table = await db.open_table(index)
        except ValueError:  # LanceDB: "Table '...' was not found"
            return None
        self._tables[index] = table
        return table

    async def _existing(self, index: str) -> Any:
        table = await self._table(index)
        if table is None:
            raise IndexNotFound(f"index `{index}` does not exist in {self.path}")
        return table

    async def describe(self, index: str) -> IndexInfo | None:
        table = await self._table(index)
        if table is None:
            return None
        schema = await table.schema()
        meta = schema.metadata or {}
        if _DIMENSION_KEY in meta:
            dimension = int(meta[_DIMENSION_KEY])
        else:  # a table written by something else: read the vector column's size
            dimension = schema.field("vector").type.list_size
        embedder = meta.get(_EMBEDDER_KEY, b"").decode() or None
        return IndexInfo(dimension, embedder)

    async def create_index(self, index: str, info: IndexInfo) -> None:
        check_index_name(index)
        async with self._lock:
            if await self._table(index) is not None:
                return
            db = await self._connect()
            table = await db.create_table(index, schema=_schema(info), exist_ok=True)
            await table.create_index("namespace", config=Bitmap(), replace=True)
            self._tables[index] = table

    async def _dimension(self, index: str) -> int:
        info = await self.describe(index)
        if info is None:
            raise IndexNotFound(f"index `{index}` does not exist in {self.path}")
        return info.dimension

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        if not records:
            return 0
        dimension = (await prepare_upsert(self, index, records)).dimension
        latest = {r.id: r for r in records}  # merge_insert wants unique keys per batch
        table = await self._existing(index)
        rows = list(latest.values())
        flat = pa.array([x for r in rows for x in r.vector], type=pa.float32())
        data = pa.table(
            {
                "namespace": [namespace or ""] * len(rows),
                "id": [r.id for r in rows],
                "vector": pa.FixedSizeListArray.from_arrays(flat, dimension),
                "text": [r.text for r in rows],
                "metadata": pa.array(
                    [json.dumps(r.metadata, ensure_ascii=False) for r in rows],
                    type=pa.json_(pa.utf8()),
                ),
            },
            # JSON text in an arrow.json column: LanceDB converts it to its binary JSON
            schema=_schema(IndexInfo(dimension)),
        )
        await (
            table.merge_insert(["namespace", "id"])
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(data)
        )
        return len(records)

    def _where(self, namespace: str | None, filter: dict[str, Any] | None) -> str:
        clause = f"namespace = {_sql_str(namespace or '')}"
        condition = to_lance_sql(parse(filter))
        return f"{clause} AND {condition}" if condition else clause

    async def query(
        self,
        index: str,
        vector: list[float],
        *,
        top_k: int,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[Hit]:
        where = self._where(namespace, filter)  # an invalid filter fails before any I/O
        dimension = await self._dimension(index)
        check_dimensions(index, dimension, {"the query": vector})
        if top_k <= 0:
            return []
        table = await self._existing(index)
        rows = (
            await table.vector_search([float(x) for x in vector])
            .distance_type("cosine")
            .where(where)
            .limit(top_k)
            .to_list()
        )
        hits = []
        for row in rows:
            distance = row["_distance"]
            metadata = json.loads(row["metadata"]) if row["metadata"] else {}
            hits.append(
                Hit(
                    row["id"],
                    0.0 if distance is None or math.isnan(distance) else 1.0 - float(distance),
                    row["text"] or str(metadata.get("text", "")),
                    metadata,
                    list(row["vector"]),
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
        where = self._where(namespace, filter)
        if ids is not None:
            if not ids:
                return 0
            where += " AND id IN (" + ", ".join(_sql_str(i) for i in dict.fromkeys(ids)) + ")"
        elif not filter:
            return 0  # neither ids nor filter: delete nothing, never everything
        table = await self._table(index)
        if table is None:
            return 0
        result = await table.delete(where)
        return int(result.num_deleted_rows)

    async def count(
        self, index: str, *, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        where = self._where(namespace, filter)
        table = await self._table(index)
        if table is None:
            return 0
        return int(await table.count_rows(where))

    async def optimize(self, index: str) -> None:
        """Compact the many small fragments that batch upserts leave behind."""
        table = await self._table(index)
        if table is not None:
            await table.optimize()

    async def aclose(self) -> None:
        self._tables.clear()
        if self._db is not None:
            self._db.close()  # type: ignore[no-untyped-call]
            self._db = None


def from_uri(uri: str, *, env: Mapping[str, str] | None = None) -> LanceStore:
    """``local`` (the default directory) or ``local:PATH``."""

    scheme, _, path = uri.partition(":")
    if scheme != "local":
        raise ValueError(f"not a local store URI (local or local:PATH): {uri!r}")
    path = path.removeprefix("//")
    return LanceStore(Path(path).expanduser() if path else default_vectors_dir(env))

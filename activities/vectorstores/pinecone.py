"""Pinecone through the official ``pinecone`` client's async data plane.

One store talks to one index host (a serverless index's ``*.svc.pinecone.io`` host,
Pinecone Local, or a loopback server); ``index_hosts`` routes further index names to
their own hosts. The index must exist (Pinecone creates indexes in its control plane);
``create_index`` checks its dimension. Namespaces are Pinecone namespaces (the default
one is ``""``). A record's text goes in its metadata: ``metadata["text"]`` if that
already holds it, else the reserved key ``record_text``. Scores are what a cosine index
returns: the cosine similarity. Pinecone keeps numbers as 64-bit floats; whole numbers
come back as ``int``. List values are stored under ``<key>__list`` so that filters never
match them, as the common semantics say (Pinecone would match their items).

Filters are parsed by :mod:`activities.vectorstores.filters` and translated to
Pinecone's own language, which is close to it; ranges over strings cannot be
expressed and raise :class:`InvalidFilter`.

Temporal owns retries: the client's own retry loop is switched off, and every HTTP
failure becomes a :class:`~interpreter.errors.ProviderError` (the statuses
:func:`~activities._failures.retryable_status` names and transport failures retryable,
other 4xx not) with Pinecone's message and never the API key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pinecone import AsyncIndex
from pinecone.errors import (
    ApiError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    RateLimitError,
)

from activities._failures import retryable_status
from activities.providers.config import read_secret
from activities.redaction import redact, remember_secret
from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexMismatch,
    InvalidFilter,
    Record,
    StoreError,
    check_index_name,
)
from activities.vectorstores.filters import And, Compare, Expr, Member, Or, parse
from interpreter.errors import ProviderError

__all__ = ["PineconeStore", "from_uri"]

_PROVIDER = "pinecone"
_DEFAULT_NAMESPACE = "__default__"  # how describe_index_stats names the "" namespace
TEXT_KEY = "record_text"
_LIST_SUFFIX = "__list"
_FETCH_BATCH = 100  # ids travel in the query string; keep URLs short
_DELETE_BATCH = 1000  # Pinecone's per-request limit
_PAGE = 1000  # fetch_by_metadata page size when counting with a filter


# --- filters -------------------------------------------------------------------------

Translated = dict[str, Any] | bool
"""A Pinecone filter, or True/False for a condition that always/never holds."""


def _to_pinecone_filter(expr: Expr) -> Translated:
    """A parsed common filter as a Pinecone metadata filter (or a constant)."""
    if isinstance(expr, And | Or):
        parts = [_to_pinecone_filter(item) for item in expr.items]
        neutral, absorbing = (True, False) if isinstance(expr, And) else (False, True)
        if absorbing in parts:
            return absorbing
        kept = [p for p in parts if not isinstance(p, bool)]
        if not kept:
            return neutral
        return kept[0] if len(kept) == 1 else {"$and" if isinstance(expr, And) else "$or": kept}
    if isinstance(expr, Member):
        # Pinecone's $in/$nin take strings and numbers; booleans become $eq/$ne
        plain = [v for v in expr.values if not isinstance(v, bool)]
        flags = [v for v in expr.values if isinstance(v, bool)]
        if expr.op == "$in":
            items: list[Expr] = [Compare(expr.key, "$eq", v) for v in flags]
            parts = [_to_pinecone_filter(i) for i in items]
            if plain:
                parts.insert(0, {expr.key: {"$in": plain}})
            return _fold_or(parts)
        parts = [_to_pinecone_filter(Compare(expr.key, "$ne", v)) for v in flags]
        if plain:
            parts.insert(0, {expr.key: {"$nin": plain}})
        return parts[0] if len(parts) == 1 else ({"$and": parts} if parts else True)
    if expr.op in ("$eq", "$ne"):
        return {expr.key: {expr.op: expr.value}}
    if isinstance(expr.value, str):
        raise InvalidFilter(
            f"Pinecone compares only numbers with `{expr.op}`; `{expr.key}` got {expr.value!r}"
        )
    return {expr.key: {expr.op: expr.value}}


def _fold_or(parts: list[Translated]) -> Translated:
    if not parts:
        return False
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _filter(filter: Mapping[str, Any] | None) -> Translated:
    expr = parse(filter)
    return True if expr is None else _to_pinecone_filter(expr)


def _metadata(record: Record) -> dict[str, Any]:
    metadata = dict(record.metadata)
    for key, value in metadata.items():
        ok = (
            isinstance(value, str | bool)
            or (isinstance(value, int | float) and math.isfinite(value))
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
        if not ok or key == TEXT_KEY or key.endswith(_LIST_SUFFIX):
            raise StoreError(
                f"record `{record.id}`: Pinecone metadata `{key}` must be a string, number, "
                f"boolean or list of strings (and `{TEXT_KEY}`, `*{_LIST_SUFFIX}` are "
                f"reserved), not {value!r}"
            )
    # lists are kept under another key: Pinecone would match $eq/$in against their items,
    # the common semantics never match a list
    for key in [k for k, v in metadata.items() if isinstance(v, list)]:
        metadata[key + _LIST_SUFFIX] = metadata.pop(key)
    if record.text and metadata.get("text") != record.text:
        metadata[TEXT_KEY] = record.text
    return metadata


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# --- errors --------------------------------------------------------------------------


@contextmanager
def _provider_errors(action: str) -> Iterator[None]:
    """Map the client's exceptions onto ProviderError, keeping the key out of messages."""
    try:
        yield
    except ApiError as exc:
        status = exc.status_code
        retryable = status is not None and retryable_status(status)
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() != "api-key"}
        error = ProviderError(
            redact(f"Pinecone {action}: HTTP {status}: {exc.message}"),
            provider=_PROVIDER,
            status=status,
            headers=headers,
            retryable=retryable,
        )
        if isinstance(exc, RateLimitError):
            error.retry_after = exc.retry_after
        raise error from None
    except (PineconeTimeoutError, PineconeConnectionError) as exc:
        raise ProviderError(
            redact(f"Pinecone {action}: {exc}"), provider=_PROVIDER, retryable=True
        ) from None
    except PineconeError as exc:  # the client refused the request before sending it
        raise ProviderError(
            redact(f"Pinecone {action}: {exc}"), provider=_PROVIDER, retryable=False
        ) from None


def _without_client_retries(index: AsyncIndex) -> AsyncIndex:
    """Temporal retries the activity; the client must not retry 429/5xx on its own.

    The data-plane constructor takes no retry policy, so set it on the HTTP client's
    config before its first request (it builds its transport lazily from that config).
    """
    http = getattr(index, "_http", None)
    config = getattr(http, "_config", None)
    if config is None or not hasattr(config, "retry_config"):
        raise RuntimeError("this `pinecone` client version is not supported; use pinecone 10.x")
    retry = dataclasses.replace(config.retry_config, max_retries=0)
    http._config = dataclasses.replace(config, retry_config=retry)  # type: ignore[union-attr]
    return index


# --- the store -----------------------------------------------------------------------


class PineconeStore:
    """Vectors in Pinecone indexes, one data-plane host per index."""

    def __init__(
        self,
        *,
        host: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "PINECONE_API_KEY",
        index_hosts: Mapping[str, str] | None = None,
        batch_size: int = 100,
        timeout: float = 30.0,
    ) -> None:
        if not host and not index_hosts:
            raise ValueError("PineconeStore needs `host` or `index_hosts`")
        key = api_key or read_secret(api_key_env) or ""
        if not key:
            raise ProviderError(
                f"Pinecone API key: environment variable {api_key_env} is not set",
                provider=_PROVIDER,
                retryable=False,
            )
        remember_secret(key)
        self._api_key = key
        self._host = host
        self._index_hosts = dict(index_hosts or {})
        self._batch_size = batch_size
        self._timeout = timeout
        self._clients: dict[str, AsyncIndex] = {}
        self._dimensions: dict[str, int] = {}

    def _index(self, name: str) -> AsyncIndex:
        check_index_name(name)
        host = self._index_hosts.get(name, self._host)
        if not host:
            raise StoreError(
                f"no Pinecone host configured for index `{name}` "
                f"(configured: {', '.join(sorted(self._index_hosts))})"
            )
        client = self._clients.get(host)
        if client is None:
            with _provider_errors("connect"):
                client = AsyncIndex(host=host, api_key=self._api_key, timeout=self._timeout)
            client = self._clients[host] = _without_client_retries(client)
        return client

    async def describe(self, index: str) -> IndexInfo | None:
        """The index's dimension (Pinecone has nowhere to record the embedder)."""
        client = self._index(index)
        with _provider_errors(f"describe `{index}`"):
            stats = await client.describe_index_stats()
        if not stats.dimension:
            return None
        self._dimensions[index] = int(stats.dimension)
        return IndexInfo(int(stats.dimension))

    async def _check_dimension(self, index: str, size: int, what: str) -> None:
        """IndexMismatch before any request that Pinecone would refuse for its length."""
        if index not in self._dimensions:
            await self.describe(index)
        dimension = self._dimensions.get(index)
        if dimension is not None and size != dimension:
            raise IndexMismatch(
                f"{what} has {size} dimensions but Pinecone index `{index}` holds "
                f"{dimension}-dimensional vectors"
            )

    async def create_index(self, index: str, info: IndexInfo) -> None:
        """Pinecone indexes are made in its control plane; check this one fits ``info``."""
        existing = await self.describe(index)
        if existing is None:
            raise StoreError(
                f"Pinecone index `{index}` reports no dimension; create it in Pinecone first"
            )
        if existing.dimension != info.dimension:
            raise IndexMismatch(
                f"Pinecone index `{index}` holds {existing.dimension}-dimensional vectors, "
                f"not {info.dimension}"
            )

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        client = self._index(index)
        for record in records:
            await self._check_dimension(index, len(record.vector), f"record `{record.id}`")
        vectors = [
            {"id": r.id, "values": [float(x) for x in r.vector], "metadata": _metadata(r)}
            for r in records
        ]
        upserted = 0
        for start in range(0, len(vectors), self._batch_size):
            with _provider_errors(f"upsert into `{index}`"):
                response = await client.upsert(
                    vectors=vectors[start : start + self._batch_size],
                    namespace=namespace or "",
                )
            upserted += response.upserted_count
        return upserted

    async def query(
        self,
        index: str,
        vector: list[float],
        *,
        top_k: int,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        condition = _filter(filter)
        client = self._index(index)
        await self._check_dimension(index, len(vector), "the query")
        if top_k <= 0 or condition is False:
            return []
        with _provider_errors(f"query `{index}`"):
            response = await client.query(
                vector=[float(x) for x in vector],
                top_k=top_k,
                namespace=namespace or "",
                filter=None if condition is True else condition,
                include_metadata=True,
                include_values=include_vectors,
            )
        hits = []
        for match in response.matches:
            metadata = {
                k.removesuffix(_LIST_SUFFIX) if isinstance(v, list) else k: _number(v)
                for k, v in (match.metadata or {}).items()
            }
            text = metadata.pop(TEXT_KEY, None) or metadata.get("text") or ""
            hits.append(
                Hit(
                    match.id,
                    float(match.score),
                    str(text),
                    metadata,
                    list(match.values) if include_vectors and match.values else None,
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
        """Delete the records with these ids and/or matching ``filter`` (both given: the
        ids that match it); returns how many existed. Neither deletes nothing.

        Pinecone's delete does not say what it removed, so the ids are looked up first
        (``fetch`` for ids, ``fetch_by_metadata`` for a filter).
        """
        condition = _filter(filter)
        client = self._index(index)
        if (ids is None and filter is None) or condition is False:
            return 0
        if ids is None and condition is True:  # a filter that holds for every record
            total = await self.count(index, namespace=namespace)
            with _provider_errors(f"delete from `{index}`"):
                await client.delete(delete_all=True, namespace=namespace or "")
            return total
        if ids is None:
            assert condition is not True
            doomed = sorted(await self._matching(client, index, condition, namespace))
        else:
            doomed = await self._present(client, index, list(dict.fromkeys(ids)), namespace)
            if condition is not True:
                matching = await self._matching(client, index, condition, namespace)
                doomed = [i for i in doomed if i in matching]
        for start in range(0, len(doomed), _DELETE_BATCH):
            with _provider_errors(f"delete from `{index}`"):
                await client.delete(
                    ids=doomed[start : start + _DELETE_BATCH], namespace=namespace or ""
                )
        return len(doomed)

    async def _present(
        self, client: AsyncIndex, index: str, ids: list[str], namespace: str | None
    ) -> list[str]:
        present: list[str] = []
        for start in range(0, len(ids), _FETCH_BATCH):
            chunk = ids[start : start + _FETCH_BATCH]
            with _provider_errors(f"fetch from `{index}`"):
                fetched = await client.fetch(ids=chunk, namespace=namespace or "")
            present.extend(i for i in chunk if i in fetched.vectors)
        return present

    async def _matching(
        self, client: AsyncIndex, index: str, condition: dict[str, Any], namespace: str | None
    ) -> set[str]:
        """Ids in ``namespace`` whose metadata matches ``condition`` (paged)."""
        found: set[str] = set()
        token: str | None = None
        while True:
            with _provider_errors(f"fetch from `{index}`"):
                page = await client.fetch_by_metadata(
                    filter=condition,
                    namespace=namespace or "",
                    limit=_PAGE,
                    pagination_token=token,
                )
            found.update(page.vectors)
            token = page.pagination.next if page.pagination else None
            if not token:
                return found

    async def count(
        self, index: str, *, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        condition = _filter(filter)
        client = self._index(index)
        if condition is False:
            return 0
        if condition is not True:
            return len(await self._matching(client, index, condition, namespace))
        with _provider_errors(f"describe `{index}`"):
            stats = await client.describe_index_stats()
        names = (namespace,) if namespace else ("", _DEFAULT_NAMESPACE)
        for name in names:
            summary = stats.namespaces.get(name)
            if summary is not None:
                return int(summary.vector_count)
        return 0

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def from_uri(uri: str, *, env: Mapping[str, str] | None = None) -> PineconeStore:
    """A store from ``pinecone://HOST[:PORT]?api_key_env=NAME&tls=false``.

    ``HOST[:PORT]`` is the index's data-plane host; ``tls`` defaults to true (https);
    ``api_key_env`` names the environment variable holding the key (default
    ``PINECONE_API_KEY``); ``batch_size`` (vectors per upsert request, default 100).
    """
    parts = urlsplit(uri)
    if parts.scheme != "pinecone" or not parts.hostname:
        raise ValueError(f"not a Pinecone store URI (pinecone://HOST[:PORT]?...): {uri!r}")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(params) - {"api_key_env", "tls", "batch_size"}
    if unknown:
        raise ValueError(f"unknown Pinecone URI parameter(s): {', '.join(sorted(unknown))}")
    tls = params.get("tls", "true").lower() not in ("false", "0", "no")
    host = f"{'https' if tls else 'http'}://{parts.netloc}"
    key_env = params.get("api_key_env", "PINECONE_API_KEY")
    return PineconeStore(
        host=host,
        api_key=read_secret(key_env, env=env),
        api_key_env=key_env,
        batch_size=int(params.get("batch_size", "100")),
    )

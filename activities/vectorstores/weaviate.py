"""Weaviate through ``weaviate-client`` v4: collections over REST, data and search over gRPC.

Layout in Weaviate:

- one collection per index: the index name with its first letter capitalised (Weaviate
  requires it), so index names must start with a letter and use letters, digits and
  ``_``; a single self-provided named vector ``default`` under HNSW with cosine
  distance; the :class:`IndexInfo` (dimension, embedder) as JSON in the collection's
  description;
- reserved properties ``record_id`` (the record's id), ``namespace`` (``__default__``
  when none is given) and ``record_text`` (the record's text, unless
  ``metadata["text"]`` already holds it); every metadata key a property of its own (str
  → text with ``field`` tokenization so equality is exact, numbers → number, bool →
  boolean, lists → arrays). Metadata may mix types under one key, a property may not, so
  a key's values of a second type live in ``<key>__<type>`` (``year__text``) and are
  merged back on read; new properties are added as they appear;
- object UUIDs are ``uuid5(namespace, id)``, so re-upserting a record replaces it and
  the same id may live in several namespaces.

Namespaces are a filtered property rather than Weaviate tenants: tenant names allow only
``[A-Za-z0-9_-]``, a multi-tenant collection refuses requests without one, and a
property costs nothing extra on a filtered HNSW search. Scores are
``1 - cosine distance``.

Filters are parsed by :mod:`activities.vectorstores.filters` and translated to
``weaviate.classes.query.Filter`` on the property holding the operand's type. A
condition that cannot hold under the common semantics — no value of that type under the
key, a list value — is folded to true/false before the request. Ranges over strings
raise :class:`InvalidFilter`.

Client calls fail as :class:`~interpreter.errors.ProviderError`: transport trouble,
gRPC UNAVAILABLE/RESOURCE_EXHAUSTED/DEADLINE_EXCEEDED/ABORTED/INTERNAL and the HTTP
statuses :func:`~activities._failures.retryable_status` names are retryable, the rest
not. ``skip_init_checks`` is on: the client's start-up checks would otherwise ask PyPI
for its latest version from every worker.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc  # type: ignore[import-untyped, unused-ignore]
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.client import WeaviateAsyncClient
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import (
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateConnectionError,
    WeaviateInvalidInputError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from activities._failures import retryable_status
from activities.providers.config import read_secret
from activities.redaction import redact, remember_secret
from activities.vectorstores.base import (
    Hit,
    IndexInfo,
    IndexNotFound,
    InvalidFilter,
    InvalidIndexName,
    Record,
    StoreError,
    check_dimensions,
    check_index_name,
)
from activities.vectorstores.filters import And, Compare, Expr, Member, Or, parse
from interpreter.errors import ProviderError

__all__ = ["WeaviateStore", "collection_name", "from_uri"]

_PROVIDER = "weaviate"
DEFAULT_NAMESPACE = "__default__"
ID_PROPERTY = "record_id"
NAMESPACE_PROPERTY = "namespace"
TEXT_PROPERTY = "record_text"
VECTOR_NAME = "default"
_INFO_KEY = "llm_orchestrator"
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_RESERVED = {"id", "_id", "_additional", "vector", ID_PROPERTY, NAMESPACE_PROPERTY, TEXT_PROPERTY}
_RETRYABLE_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
}
_UUID_SPACE = uuid.UUID("6f1c4a52-3c1e-4be2-9a57-6c2d6ad3c5a1")
_DELETE_BATCH = 1000
_RANGE_METHODS = {
    "$gt": "greater_than",
    "$gte": "greater_or_equal",
    "$lt": "less_than",
    "$lte": "less_or_equal",
}


def collection_name(index: str) -> str:
    """The Weaviate collection that holds ``index``."""
    check_index_name(index)
    if not _NAME.match(index) or not index[0].isalpha():
        raise InvalidIndexName(
            f"Weaviate cannot name a collection after index `{index}`: use letters, digits "
            "and `_`, starting with a letter"
        )
    return index[0].upper() + index[1:]


def _object_uuid(record_id: str, namespace: str | None) -> str:
    """The Weaviate object UUID of a record: stable per (namespace, id)."""
    return str(uuid.uuid5(_UUID_SPACE, f"{namespace or DEFAULT_NAMESPACE}\x00{record_id}"))


# --- types and filters -----------------------------------------------------------------


_SCALAR_TYPES = {str: "text", bool: "boolean", int: "number", float: "number"}


def _type_of(key: str, value: Any) -> str:
    """The Weaviate data type that holds ``value``: numbers are all ``number``."""
    if isinstance(value, list) and value:
        kinds = {_type_of(key, v) for v in value}
        if len(kinds) == 1 and not (kind := kinds.pop()).endswith("[]"):
            return kind + "[]"
    elif type(value) in _SCALAR_TYPES:
        if isinstance(value, float) and not math.isfinite(value):
            raise StoreError(f"Weaviate cannot store {value!r} in `{key}`")
        return _SCALAR_TYPES[type(value)]
    raise StoreError(
        f"Weaviate metadata `{key}` must be a string, number, boolean or a non-empty list of "
        f"one of those, not {value!r}"
    )


def _variant(key: str, data_type: str) -> str:
    """The property holding ``key``'s values of ``data_type`` when ``key`` itself holds
    another type: metadata may mix types under one key, a Weaviate property may not."""
    return f"{key}__{data_type.replace('[]', '_array')}"


_SUFFIXES = {_variant("", t)[2:]: t for t in ("text", "number", "boolean")} | {
    _variant("", f"{t}[]")[2:]: f"{t}[]" for t in ("text", "number", "boolean")
}


def _property_for(key: str, data_type: str, schema: Mapping[str, str]) -> str | None:
    """The existing property that holds ``key``'s values of ``data_type``, if any."""
    if schema.get(key) == data_type:
        return key
    variant = _variant(key, data_type)
    return variant if schema.get(variant) == data_type else None


def _metadata_key(prop: str) -> str:
    base, _, suffix = prop.rpartition("__")
    return base if base and suffix in _SUFFIXES else prop


def _stored(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value


def _read(value: Any) -> Any:
    """Numbers are stored as 64-bit floats; whole ones come back as ``int``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_read(v) for v in value]
    return value


Translated = _Filters | bool
"""A Weaviate filter, or True/False for a condition that always/never holds."""


def to_weaviate_filter(expr: Expr, schema: Mapping[str, str]) -> Translated:
    """A parsed common filter as a Weaviate filter over a collection with ``schema``."""
    if isinstance(expr, And | Or):
        parts = [to_weaviate_filter(item, schema) for item in expr.items]
        neutral, absorbing = (True, False) if isinstance(expr, And) else (False, True)
        if absorbing in parts:
            return absorbing
        kept = [p for p in parts if not isinstance(p, bool)]
        if not kept:
            return neutral
        if len(kept) == 1:
            return kept[0]
        return Filter.all_of(kept) if isinstance(expr, And) else Filter.any_of(kept)
    if isinstance(expr, Member):
        items = [Compare(expr.key, "$eq" if expr.op == "$in" else "$ne", v) for v in expr.values]
        combined: Expr = Or(tuple(items)) if expr.op == "$in" else And(tuple(items))
        return to_weaviate_filter(combined, schema)
    data_type = _SCALAR_TYPES[type(expr.value)]
    if expr.op in _RANGE_METHODS and data_type == "text":
        raise InvalidFilter(
            f"Weaviate range filters need a number; `{expr.key}` got {expr.value!r}"
        )
    prop_name = None if expr.key in _RESERVED else _property_for(expr.key, data_type, schema)
    if prop_name is None:  # no value of this type under this key: types never mix
        return expr.op == "$ne"
    prop = Filter.by_property(prop_name)
    value = _stored(expr.value)
    if expr.op == "$eq":
        return prop.equal(value)
    if expr.op == "$ne":
        return prop.not_equal(value)
    result: _Filters = getattr(prop, _RANGE_METHODS[expr.op])(value)
    return result


# --- errors ------------------------------------------------------------------------------


def _grpc_code(exc: BaseException) -> grpc.StatusCode | None:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, grpc.aio.AioRpcError):
            return link.code()
        link = link.__cause__ or link.__context__
    return None


@contextmanager
def _provider_errors(action: str) -> Iterator[None]:
    """Map the client's exceptions onto ProviderError, keeping the key out of messages."""
    try:
        yield
    except StoreError:
        raise
    except (WeaviateConnectionError, WeaviateStartUpError, WeaviateTimeoutError) as exc:
        raise ProviderError(
            redact(f"Weaviate {action}: {exc}"), provider=_PROVIDER, retryable=True
        ) from None
    except UnexpectedStatusCodeError as exc:
        code = _grpc_code(exc)
        if code is not None:
            retryable = code in _RETRYABLE_GRPC
            status = None
        else:
            status = exc.status_code
            retryable = retryable_status(status)
        if isinstance(exc, InsufficientPermissionsError):
            retryable = False
        raise ProviderError(
            redact(f"Weaviate {action}: {exc}"),
            provider=_PROVIDER,
            status=status,
            retryable=retryable,
        ) from None
    except WeaviateInvalidInputError as exc:
        raise ProviderError(
            redact(f"Weaviate {action}: {exc}"), provider=_PROVIDER, retryable=False
        ) from None
    except WeaviateBaseError as exc:
        code = _grpc_code(exc)
        raise ProviderError(
            redact(f"Weaviate {action}: {exc}"),
            provider=_PROVIDER,
            retryable=code in _RETRYABLE_GRPC if code is not None else False,
        ) from None


# --- the store ---------------------------------------------------------------------------


class WeaviateStore:
    """Vectors in Weaviate collections, one per index."""

    def __init__(
        self,
        *,
        http_host: str = "127.0.0.1",
        http_port: int = 8080,
        grpc_host: str | None = None,
        grpc_port: int = 50051,
        secure: bool = False,
        api_key: str | None = None,
        batch_size: int = 200,
        timeout: float = 30.0,
    ) -> None:
        self._params = {
            "http_host": http_host,
            "http_port": http_port,
            "http_secure": secure,
            "grpc_host": grpc_host or http_host,
            "grpc_port": grpc_port,
            "grpc_secure": secure,
        }
        remember_secret(api_key)
        self._api_key = api_key
        self._batch_size = batch_size
        self._timeout = timeout
        self._client: WeaviateAsyncClient | None = None
        self._connecting = asyncio.Lock()
        self._schemas: dict[str, tuple[IndexInfo | None, dict[str, str]]] = {}

    async def _connect(self) -> WeaviateAsyncClient:
        async with self._connecting:
            if self._client is None:
                seconds = max(1, math.ceil(self._timeout))
                client = weaviate.use_async_with_custom(
                    **self._params,  # type: ignore[arg-type]
                    auth_credentials=Auth.api_key(self._api_key) if self._api_key else None,
                    additional_config=AdditionalConfig(
                        timeout=Timeout(init=seconds, query=seconds, insert=seconds)
                    ),
                    skip_init_checks=True,
                )
                with _provider_errors("connect"):
                    try:
                        await client.connect()
                    except BaseException:
                        await client.close()  # else its half-open connections leak
                        raise
                self._client = client
            return self._client

    async def _collection_schema(
        self, index: str, *, refresh: bool = False
    ) -> tuple[IndexInfo | None, dict[str, str]] | None:
        """(info, property name → data type) of ``index``'s collection; None if absent."""
        name = collection_name(index)
        if name in self._schemas and not refresh:
            return self._schemas[name]
        client = await self._connect()
        with _provider_errors(f"read the schema of `{name}`"):
            if not await client.collections.exists(name):
                self._schemas.pop(name, None)
                return None
            config = await client.collections.use(name).config.get(simple=True)
        info = None
        try:
            saved = json.loads(config.description or "{}").get(_INFO_KEY) or {}
            if isinstance(saved.get("dimension"), int):
                info = IndexInfo(saved["dimension"], saved.get("embedder"))
        except (ValueError, AttributeError):
            pass
        entry = (info, {p.name: str(p.data_type.value) for p in config.properties})
        self._schemas[name] = entry
        return entry

    async def describe(self, index: str) -> IndexInfo | None:
        entry = await self._collection_schema(index)
        if entry is None:
            return None
        if entry[0] is None:
            raise StoreError(
                f"Weaviate collection `{collection_name(index)}` was not made by "
                "llm-orchestrator (its description holds no dimension)"
            )
        return entry[0]

    @staticmethod
    def _property(name: str, kind: DataType) -> Property:
        if kind in (DataType.TEXT, DataType.TEXT_ARRAY):
            return Property(name=name, data_type=kind, tokenization=Tokenization.FIELD)
        return Property(name=name, data_type=kind)

    async def create_index(self, index: str, info: IndexInfo) -> None:
        existing = await self._collection_schema(index)
        if existing is not None:
            return
        name = collection_name(index)
        client = await self._connect()
        description = json.dumps(
            {_INFO_KEY: {"dimension": info.dimension, "embedder": info.embedder}}
        )
        try:
            with _provider_errors(f"create collection `{name}`"):
                await client.collections.create(
                    name,
                    description=description,
                    properties=[
                        self._property(ID_PROPERTY, DataType.TEXT),
                        self._property(NAMESPACE_PROPERTY, DataType.TEXT),
                        Property(
                            name=TEXT_PROPERTY,
                            data_type=DataType.TEXT,
                            index_filterable=False,
                            index_searchable=False,
                        ),
                    ],
                    vector_config=Configure.Vectors.self_provided(
                        name=VECTOR_NAME,
                        vector_index_config=Configure.VectorIndex.hnsw(
                            distance_metric=VectorDistances.COSINE
                        ),
                    ),
                )
        except ProviderError:
            # another worker may have created it a moment ago
            if await self._collection_schema(index, refresh=True) is None:
                raise
        await self._collection_schema(index, refresh=True)

    def _plan(
        self, index: str, records: list[Record], dimension: int, schema: Mapping[str, str]
    ) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        """(metadata key, data type) → property, and the properties still to create."""
        names: dict[tuple[str, str], str] = {}
        new: dict[str, str] = {}
        check_dimensions(index, dimension, {f"record `{r.id}`": r.vector for r in records})
        for record in records:
            for key, value in record.metadata.items():
                if not _NAME.match(key) or key in _RESERVED or "__" in key:
                    raise StoreError(
                        f"record `{record.id}`: `{key}` cannot be a Weaviate property name (use "
                        f"letters, digits and single `_`; {', '.join(sorted(_RESERVED))} are "
                        "reserved)"
                    )
                if value is None:
                    raise StoreError(f"record `{record.id}`: metadata `{key}` is null")
                data_type = _type_of(key, value)
                if (key, data_type) in names:
                    continue
                known = {**schema, **new}
                name = _property_for(key, data_type, known)
                if name is None:
                    name = key if key not in known else _variant(key, data_type)
                    new[name] = data_type
                names[key, data_type] = name
        return names, new

    async def _ensure_schema(self, index: str, records: list[Record]) -> dict[tuple[str, str], str]:
        if await self._collection_schema(index) is None:
            await self.create_index(index, IndexInfo(len(records[0].vector)))
        info = await self.describe(index)
        assert info is not None
        entry = await self._collection_schema(index)
        assert entry is not None
        names, missing = self._plan(index, records, info.dimension, entry[1])
        if missing:
            name = collection_name(index)
            collection = (await self._connect()).collections.use(name)
            for prop, data_type in missing.items():
                with _provider_errors(f"add property `{prop}` to `{name}`"):
                    try:
                        await collection.config.add_property(
                            self._property(prop, DataType(data_type))
                        )
                    except UnexpectedStatusCodeError:
                        # added by another worker meanwhile? the refreshed schema will tell
                        refreshed = await self._collection_schema(index, refresh=True)
                        if refreshed is None or refreshed[1].get(prop) != data_type:
                            raise
            entry = await self._collection_schema(index, refresh=True)
            assert entry is not None
            names, _ = self._plan(index, records, info.dimension, entry[1])
        return names

    async def upsert(
        self, index: str, records: list[Record], *, namespace: str | None = None
    ) -> int:
        if not records:
            return 0
        names = await self._ensure_schema(index, records)
        ns = namespace or DEFAULT_NAMESPACE
        objects = []
        for record in records:
            properties: dict[str, Any] = {ID_PROPERTY: record.id, NAMESPACE_PROPERTY: ns}
            for key, value in record.metadata.items():
                properties[names[key, _type_of(key, value)]] = _stored(value)
            if record.text and record.metadata.get("text") != record.text:
                properties[TEXT_PROPERTY] = record.text
            objects.append(
                DataObject(
                    properties=properties,
                    uuid=_object_uuid(record.id, namespace),
                    vector={VECTOR_NAME: [float(x) for x in record.vector]},
                )
            )
        name = collection_name(index)
        collection = (await self._connect()).collections.use(name)
        written = 0
        for start in range(0, len(objects), self._batch_size):
            batch = objects[start : start + self._batch_size]
            with _provider_errors(f"upsert into `{name}`"):
                result = await collection.data.insert_many(batch)
            if result.has_errors:
                first = next(iter(result.errors.values()))
                raise ProviderError(
                    f"Weaviate upsert into `{name}`: {len(result.errors)} of {len(batch)} "
                    f"objects refused; first: {first.message}",
                    provider=_PROVIDER,
                    retryable=False,
                )
            written += len(result.uuids)
        return written

    async def _where(
        self, index: str, filter: Mapping[str, Any] | None, namespace: str | None
    ) -> Translated | None:
        """The namespace and ``filter`` as one Weaviate filter; None if the index is absent."""
        expr = parse(filter)
        entry = await self._collection_schema(index)
        if entry is None:
            return None
        in_namespace = Filter.by_property(NAMESPACE_PROPERTY).equal(namespace or DEFAULT_NAMESPACE)
        if expr is None:
            return in_namespace
        user = to_weaviate_filter(expr, entry[1])
        if user is False:  # a key may have been added by another worker since we looked
            entry = await self._collection_schema(index, refresh=True)
            user = to_weaviate_filter(expr, entry[1]) if entry else False
        if isinstance(user, bool):
            return in_namespace if user else False
        return Filter.all_of([in_namespace, user])

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
        where = await self._where(index, filter, namespace)
        if where is None:
            raise IndexNotFound(f"index `{index}` does not exist in Weaviate")
        info = await self.describe(index)
        if info is not None:
            check_dimensions(index, info.dimension, {"the query": vector})
        if top_k <= 0 or where is False:
            return []
        assert not isinstance(where, bool)
        name = collection_name(index)
        collection = (await self._connect()).collections.use(name)
        with _provider_errors(f"query `{name}`"):
            response = await collection.query.near_vector(
                near_vector=[float(x) for x in vector],
                target_vector=VECTOR_NAME,
                limit=top_k,
                filters=where,
                return_metadata=MetadataQuery(distance=True),
                include_vector=include_vectors,
            )
        hits = []
        for obj in response.objects:
            raw = {k: v for k, v in obj.properties.items() if v is not None}
            record_id = str(raw.pop(ID_PROPERTY, obj.uuid))
            raw.pop(NAMESPACE_PROPERTY, None)
            own_text = raw.pop(TEXT_PROPERTY, None)
            props = {_metadata_key(k): _read(v) for k, v in raw.items()}
            text = own_text or props.get("text") or ""
            distance = obj.metadata.distance if obj.metadata.distance is not None else 1.0
            stored = obj.vector.get(VECTOR_NAME) if include_vectors and obj.vector else None
            vector_out = [float(x) for x in stored] if stored else None  # type: ignore[arg-type]
            hits.append(
                Hit(
                    record_id,
                    1.0 - float(distance),
                    str(text),
                    props,
                    vector_out,
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
        ids that match it); returns how many were deleted. Neither deletes nothing."""
        where = await self._where(index, filter, namespace)
        if where is None or where is False or (ids is None and filter is None):
            return 0
        assert not isinstance(where, bool)
        collection = (await self._connect()).collections.use(collection_name(index))
        if ids is None:
            return await self._delete_where(collection, index, where)
        uuids = list(dict.fromkeys(_object_uuid(i, namespace) for i in ids))
        deleted = 0
        for start in range(0, len(uuids), _DELETE_BATCH):
            by_id = Filter.by_id().contains_any(uuids[start : start + _DELETE_BATCH])
            deleted += await self._delete_where(collection, index, Filter.all_of([by_id, where]))
        return deleted

    async def _delete_where(self, collection: Any, index: str, where: _Filters) -> int:
        with _provider_errors(f"delete from `{collection_name(index)}`"):
            result = await collection.data.delete_many(where=where)
        return int(result.successful)

    async def count(
        self, index: str, *, filter: dict[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        where = await self._where(index, filter, namespace)
        if where is None or where is False:
            return 0
        assert not isinstance(where, bool)
        name = collection_name(index)
        collection = (await self._connect()).collections.use(name)
        with _provider_errors(f"count `{name}`"):
            result = await collection.aggregate.over_all(filters=where, total_count=True)
        return int(result.total_count or 0)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def from_uri(uri: str, *, env: Mapping[str, str] | None = None) -> WeaviateStore:
    """A store from ``weaviate://HOST:HTTP_PORT?grpc_port=N``.

    Further parameters: ``grpc_host`` (default HOST), ``tls=true`` (https and a secure
    gRPC channel; default false), ``api_key_env=NAME`` (environment variable holding an
    API key; none by default), ``batch_size`` (objects per gRPC batch, default 200).
    """
    parts = urlsplit(uri)
    if parts.scheme != "weaviate" or not parts.hostname:
        raise ValueError(f"not a Weaviate store URI (weaviate://HOST:HTTP_PORT?...): {uri!r}")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(params) - {"grpc_port", "grpc_host", "tls", "api_key_env", "batch_size"}
    if unknown:
        raise ValueError(f"unknown Weaviate URI parameter(s): {', '.join(sorted(unknown))}")
    secure = params.get("tls", "false").lower() in ("true", "1", "yes")
    api_key = None
    if key_env := params.get("api_key_env"):
        api_key = read_secret(key_env, env=env)
        if not api_key:
            raise ProviderError(
                f"Weaviate API key: environment variable {key_env} is not set",
                provider=_PROVIDER,
                retryable=False,
            )
    return WeaviateStore(
        http_host=parts.hostname,
        http_port=parts.port or (443 if secure else 8080),
        grpc_host=params.get("grpc_host"),
        grpc_port=int(params.get("grpc_port", "50051")),
        secure=secure,
        api_key=api_key,
        batch_size=int(params.get("batch_size", "200")),
    )

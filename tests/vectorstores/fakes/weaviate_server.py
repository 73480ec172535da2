"""A loopback Weaviate: the REST schema endpoints and the gRPC data plane, on the real stubs.

REST (``/v1/meta``, ``/v1/.well-known/*``, ``/v1/schema``...) answers what
``weaviate-client`` v4 asks while connecting and managing collections, filling in the
defaults Weaviate adds to a class. gRPC is served with the generated
``weaviate.proto.v1`` stubs that the client ships: ``Search`` (near-vector, exact
brute-force cosine), ``BatchObjects``, ``BatchDelete``, ``Aggregate`` (object count) and
the health check. Like a Weaviate started with ``AUTOSCHEMA_ENABLED=false`` it refuses
unknown collections and properties, values that do not fit a property's type, filters
whose value type does not match the property (``valueNumber`` on an ``int``), range
filters on text, and vectors whose length differs from the collection's. An API key, if
set, is required on both protocols.
"""

from __future__ import annotations

import json
import math
import re
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import grpc
from google.protobuf import struct_pb2
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

from tests.helpers.net import serve_http

VERSION = "1.32.4"
_CLASS = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
_PROP = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_RESERVED = {"_additional", "_id", "id"}
_TYPES = {"text", "text[]", "int", "int[]", "number", "number[]", "boolean", "boolean[]"}
_TOKENIZATIONS = {"word", "lowercase", "whitespace", "field", "trigram"}
F = base_pb2.Filters
_HNSW_DEFAULTS: dict[str, Any] = {
    "bq": {"enabled": False}, "cleanupIntervalSeconds": 300, "distance": "cosine",
    "dynamicEfFactor": 8, "dynamicEfMax": 500, "dynamicEfMin": 100, "ef": -1,
    "efConstruction": 128, "filterStrategy": "sweeping", "flatSearchCutoff": 40000,
    "maxConnections": 32, "multivector": {"aggregation": "maxSim", "enabled": False},
    "pq": {"enabled": False}, "skip": False, "sq": {"enabled": False},
    "vectorCacheMaxObjects": 1000000000000,
}  # fmt: skip


class Refused(Exception):
    """A request Weaviate refuses: ``status`` for REST, ``code`` for gRPC."""

    def __init__(self, message: str, *, status: int = 422, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Stored:
    properties: dict[str, Any]
    vectors: dict[str, list[float]]


def _class_defaults(body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("class")
    if not isinstance(name, str) or not _CLASS.match(name):
        raise Refused(f"'{name}' is not a valid class name")
    properties = [_property_defaults(name, p) for p in body.get("properties") or []]
    names = [p["name"] for p in properties]
    if len(set(names)) != len(names):
        raise Refused(f"class '{name}' has duplicate property names")
    vector_config = body.get("vectorConfig") or {}
    for vector_name, config in vector_config.items():
        vectorizer = config.get("vectorizer") or {}
        if list(vectorizer) != ["none"]:
            raise Refused(f"fake Weaviate has no vectorizer modules: {vectorizer}")
        index_config = {**_HNSW_DEFAULTS, **(config.get("vectorIndexConfig") or {})}
        if index_config["distance"] != "cosine":
            raise Refused(f"fake Weaviate only computes cosine distance ({vector_name})")
        config["vectorIndexConfig"] = index_config
        config.setdefault("vectorIndexType", "hnsw")
    if not vector_config:
        raise Refused("fake Weaviate needs a named, self-provided vector (vectorConfig)")
    return {
        "class": name,
        "description": body.get("description"),
        "invertedIndexConfig": {
            "bm25": {"b": 0.75, "k1": 1.2},
            "cleanupIntervalSeconds": 60,
            "stopwords": {"additions": None, "preset": "en", "removals": None},
            "usingBlockMaxWAND": True,
        },
        "multiTenancyConfig": {
            "autoTenantActivation": False,
            "autoTenantCreation": False,
            "enabled": False,
        },
        "properties": properties,
        "replicationConfig": {
            "asyncEnabled": False,
            "deletionStrategy": "NoAutomatedResolution",
            "factor": 1,
        },
        "shardingConfig": {
            "actualCount": 1,
            "actualVirtualCount": 128,
            "desiredCount": 1,
            "desiredVirtualCount": 128,
            "function": "murmur3",
            "key": "_id",
            "strategy": "hash",
            "virtualPerPhysical": 128,
        },
        "vectorConfig": vector_config,
    }


def _property_defaults(class_name: str, prop: dict[str, Any]) -> dict[str, Any]:
    name = prop.get("name")
    if not isinstance(name, str) or not _PROP.match(name) or name in _RESERVED:
        raise Refused(f"'{name}' is not a valid property name")
    data_type = prop.get("dataType")
    if not isinstance(data_type, list) or len(data_type) != 1 or data_type[0] not in _TYPES:
        raise Refused(f"property '{name}': unsupported dataType {data_type}")
    is_text = data_type[0].startswith("text")
    tokenization = prop.get("tokenization")
    if tokenization is not None and not is_text:
        raise Refused(f"tokenization is not allowed for data type '{data_type[0]}'")
    if is_text and (tokenization or "word") not in _TOKENIZATIONS:
        raise Refused(f"property '{name}': unknown tokenization '{tokenization}'")
    return {
        "dataType": data_type,
        "description": prop.get("description"),
        "indexFilterable": prop.get("indexFilterable", True),
        "indexRangeFilters": prop.get("indexRangeFilters", False),
        "indexSearchable": prop.get("indexSearchable", is_text),
        "name": name,
        **({"tokenization": tokenization or "word"} if is_text else {}),
    }


class FakeWeaviate:
    """``with FakeWeaviate.running() as fake:``; then ``fake.http_port``, ``fake.grpc_port``."""

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.classes: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Stored]] = {}
        self.calls: list[str] = []
        self.fail_grpc: list[grpc.StatusCode] = []
        self._lock = threading.RLock()
        self.http_port = 0
        self.grpc_port = 0

    @classmethod
    @contextmanager
    def running(cls, *, api_key: str | None = None) -> Iterator[FakeWeaviate]:
        fake = cls(api_key=api_key)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Servicer(fake), server)
        server.add_generic_rpc_handlers((_health_handler(fake),))
        fake.grpc_port = server.add_insecure_port("127.0.0.1:0")
        with serve_http(type("Handler", (_RestHandler,), {"fake": fake})) as url:
            fake.http_port = int(url.rsplit(":", 1)[1])
            server.start()
            try:
                yield fake
            finally:
                server.stop(grace=None)

    # --- REST --------------------------------------------------------------------------

    def rest(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.calls.append(f"{method} {path}")
            if path.startswith("/v1/.well-known/"):
                return (200, None) if path.endswith(("/ready", "/live")) else (404, None)
            if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, {"code": 401, "message": "anonymous access not enabled"}
            try:
                return self._rest(method, path, body)
            except Refused as exc:
                return exc.status, {"error": [{"message": str(exc)}]}

    def _rest(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if (method, parts) == ("GET", ["v1", "meta"]):
            return 200, {"hostname": "http://[::]:8080", "modules": {}, "version": VERSION,
                         "grpcMaxMessageSize": 104858000}  # fmt: skip
        if parts[:2] != ["v1", "schema"]:
            return 404, None
        if method == "GET" and len(parts) == 2:
            return 200, {"classes": list(self.classes.values())}
        if method == "POST" and len(parts) == 2:
            created = _class_defaults(body if isinstance(body, dict) else {})
            if created["class"].lower() in (c.lower() for c in self.classes):
                raise Refused(f'class name "{created["class"]}" already exists')
            self.classes[created["class"]] = created
            self.objects[created["class"]] = {}
            return 200, created
        name = parts[2] if len(parts) > 2 else ""
        if name not in self.classes:
            return 404, None
        if method == "GET" and len(parts) == 3:
            return 200, self.classes[name]
        if method == "DELETE" and len(parts) == 3:
            del self.classes[name], self.objects[name]
            return 200, None
        if method == "POST" and parts[3:] == ["properties"]:
            prop = _property_defaults(name, body if isinstance(body, dict) else {})
            if any(p["name"] == prop["name"] for p in self.classes[name]["properties"]):
                raise Refused(f"property '{prop['name']}' already exists in class '{name}'")
            self.classes[name]["properties"].append(prop)
            return 200, prop
        return 405, None

    # --- gRPC helpers --------------------------------------------------------------------

    def grpc_call(self, name: str, context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
        with self._lock:
            self.calls.append(f"grpc {name}")
            if self.fail_grpc:
                code = self.fail_grpc.pop(0)
                context.abort(code, f"scripted {code.name}")
            if self.api_key:
                metadata = dict(context.invocation_metadata())
                if metadata.get("authorization") != f"Bearer {self.api_key}":
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "anonymous access not enabled")
            try:
                return fn()
            except Refused as exc:
                context.abort(exc.code, str(exc))

    def schema(self, collection: str) -> dict[str, str]:
        if collection not in self.classes:
            raise Refused(
                f"could not find class {collection} in schema", code=grpc.StatusCode.NOT_FOUND
            )
        return {p["name"]: p["dataType"][0] for p in self.classes[collection]["properties"]}

    def filterable(self, collection: str) -> dict[str, bool]:
        return {p["name"]: p["indexFilterable"] for p in self.classes[collection]["properties"]}

    def vector_names(self, collection: str) -> list[str]:
        return list(self.classes[collection]["vectorConfig"])

    def dimension(self, collection: str, name: str) -> int | None:
        for stored in self.objects[collection].values():
            if name in stored.vectors:
                return len(stored.vectors[name])
        return None


# --- values --------------------------------------------------------------------------------


def _fit(collection: str, prop: str, data_type: str, value: Any) -> Any:
    def refuse() -> Refused:
        return Refused(
            f"invalid {data_type} property '{prop}' on class '{collection}': "
            f"the given value {value!r} does not fit"
        )

    if data_type.endswith("[]"):
        if not isinstance(value, list):
            raise refuse()
        return [_fit(collection, prop, data_type[:-2], v) for v in value]
    if data_type == "text" and isinstance(value, str):
        return value
    if data_type == "boolean" and isinstance(value, bool):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if data_type == "int" and number and float(value).is_integer():
        return int(value)
    if data_type == "number" and number:
        return float(value)
    raise refuse()


def _from_struct(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    raise Refused(f"fake Weaviate does not take {kind} properties")


def _batch_properties(props: batch_pb2.BatchObject.Properties) -> dict[str, Any]:
    if props.single_target_ref_props or props.multi_target_ref_props or props.object_properties:
        raise Refused("fake Weaviate has no references or object properties")
    out = {k: _from_struct(v) for k, v in props.non_ref_properties.fields.items()}
    for arrays in (
        props.text_array_properties,
        props.int_array_properties,
        props.boolean_array_properties,
    ):
        for item in arrays:
            out[item.prop_name] = list(item.values)
    for number_array in props.number_array_properties:
        values = list(number_array.values)
        if number_array.values_bytes:
            raw = number_array.values_bytes
            values = list(struct.unpack(f"<{len(raw) // 8}d", raw))
        out[number_array.prop_name] = values
    for name in props.empty_list_props:
        out[name] = []
    return out


def _to_value(data_type: str, value: Any) -> properties_pb2.Value:
    if data_type == "text":
        return properties_pb2.Value(text_value=value)
    if data_type == "int":
        return properties_pb2.Value(int_value=value)
    if data_type == "number":
        return properties_pb2.Value(number_value=value)
    if data_type == "boolean":
        return properties_pb2.Value(bool_value=value)
    lists = {
        "text[]": lambda v: properties_pb2.ListValue(
            text_values=properties_pb2.TextValues(values=v)
        ),
        "int[]": lambda v: properties_pb2.ListValue(
            int_values=properties_pb2.IntValues(values=struct.pack(f"<{len(v)}q", *v))
        ),
        "number[]": lambda v: properties_pb2.ListValue(
            number_values=properties_pb2.NumberValues(values=struct.pack(f"<{len(v)}d", *v))
        ),
        "boolean[]": lambda v: properties_pb2.ListValue(
            bool_values=properties_pb2.BoolValues(values=v)
        ),
    }
    return properties_pb2.Value(list_value=lists[data_type](value))


def _unpack(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def _pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


# --- filters -------------------------------------------------------------------------------

_VALUE_FOR_TYPE = {
    "text": "value_text",
    "int": "value_int",
    "number": "value_number",
    "boolean": "value_boolean",
}
_ARRAY_FOR_TYPE = {
    "text": "value_text_array",
    "int": "value_int_array",
    "number": "value_number_array",
    "boolean": "value_boolean_array",
}
_RANGES = {
    F.OPERATOR_GREATER_THAN: lambda a, b: a > b,
    F.OPERATOR_GREATER_THAN_EQUAL: lambda a, b: a >= b,
    F.OPERATOR_LESS_THAN: lambda a, b: a < b,
    F.OPERATOR_LESS_THAN_EQUAL: lambda a, b: a <= b,
}


def _compile(
    collection: str, schema: dict[str, str], flt: F, filterable: dict[str, bool] | None = None
) -> Callable[[str, Stored], bool]:
    """Check ``flt`` like Weaviate does, and return a predicate over (uuid, object)."""
    filterable = filterable or {}
    op = flt.operator
    if op in (F.OPERATOR_AND, F.OPERATOR_OR):
        if not flt.filters:
            raise Refused("and/or filters need operands")
        parts = [_compile(collection, schema, f, filterable) for f in flt.filters]
        if op == F.OPERATOR_AND:
            return lambda i, o: all(p(i, o) for p in parts)
        return lambda i, o: any(p(i, o) for p in parts)
    if op == F.OPERATOR_NOT:
        inner = _compile(collection, schema, flt.filters[0], filterable)
        return lambda i, o: not inner(i, o)
    prop = flt.target.property if flt.HasField("target") else (flt.on[0] if flt.on else "")
    kind = flt.WhichOneof("test_value")
    if prop == "_id":
        if op == F.OPERATOR_CONTAINS_ANY and kind == "value_text_array":
            ids = set(flt.value_text_array.values)
            return lambda i, o: i in ids
        if op == F.OPERATOR_EQUAL and kind == "value_text":
            wanted = flt.value_text
            return lambda i, o: i == wanted
        raise Refused(f"fake Weaviate: unsupported id filter {F.Operator.Name(op)}")
    if prop not in schema:
        raise Refused(
            f"no such prop with name '{prop}' found in class '{collection}' in the schema. "
            "Check your schema files for which properties in this class are available"
        )
    if not filterable.get(prop, True):
        raise Refused(
            f"Filtering by property '{prop}' requires inverted index. Is `indexFilterable` "
            f"option of property '{prop}' enabled? Set it to `true` or leave it empty"
        )
    data_type = schema[prop].removesuffix("[]")
    expected = _VALUE_FOR_TYPE[data_type]
    if op in (F.OPERATOR_CONTAINS_ANY, F.OPERATOR_CONTAINS_ALL, F.OPERATOR_CONTAINS_NONE):
        expected = _ARRAY_FOR_TYPE[data_type]
    if kind != expected:
        raise Refused(
            f'data type filter cannot use "{kind}" on type "{schema[prop]}", use "{expected}"'
        )
    operand: Any = getattr(flt, kind)
    if kind.endswith("_array"):
        operand = list(operand.values)

    def values(o: Stored) -> list[Any] | None:
        value = o.properties.get(prop)
        if value is None:
            return None
        return value if isinstance(value, list) else [value]

    if op == F.OPERATOR_EQUAL:
        return lambda i, o: (vs := values(o)) is not None and operand in vs
    if op == F.OPERATOR_NOT_EQUAL:
        return lambda i, o: (vs := values(o)) is None or operand not in vs
    if op in _RANGES:
        if data_type not in ("int", "number"):
            raise Refused(f"fake Weaviate: range filters need a numeric property, not '{prop}'")
        test = _RANGES[op]
        return lambda i, o: (vs := values(o)) is not None and any(test(v, operand) for v in vs)
    if op == F.OPERATOR_CONTAINS_ANY:
        return lambda i, o: (vs := values(o)) is not None and any(v in operand for v in vs)
    raise Refused(f"fake Weaviate: unsupported filter operator {F.Operator.Name(op)}")


# --- gRPC ----------------------------------------------------------------------------------


class _Servicer(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, fake: FakeWeaviate) -> None:
        self.fake = fake

    def BatchObjects(self, request: Any, context: Any) -> batch_pb2.BatchObjectsReply:
        def run() -> batch_pb2.BatchObjectsReply:
            errors = []
            for index, obj in enumerate(request.objects):
                try:
                    self._store(obj)
                except Refused as exc:
                    errors.append(
                        batch_pb2.BatchObjectsReply.BatchError(index=index, error=str(exc))
                    )
            return batch_pb2.BatchObjectsReply(took=0.001, errors=errors)

        return self.fake.grpc_call("BatchObjects", context, run)

    def _store(self, obj: batch_pb2.BatchObject) -> None:
        fake = self.fake
        schema = fake.schema(obj.collection)
        if obj.tenant:
            raise Refused(f"class {obj.collection}: multi-tenancy is not enabled")
        object_id = str(uuid.UUID(obj.uuid))
        properties = {}
        for key, value in _batch_properties(obj.properties).items():
            if key not in schema:
                raise Refused(
                    f"no such prop with name '{key}' found in class '{obj.collection}' in the "
                    "schema. Check your schema files for which properties in this class are "
                    "available"
                )
            if value is not None:
                properties[key] = _fit(obj.collection, key, schema[key], value)
        if obj.vector_bytes or obj.vector:
            raise Refused(
                f"collection {obj.collection} is configured with named vectors "
                f"{fake.vector_names(obj.collection)}; send the vector by name"
            )
        vectors = {}
        for named in obj.vectors:
            if named.name not in fake.vector_names(obj.collection):
                raise Refused(f"collection {obj.collection} has no vector named '{named.name}'")
            vector = _unpack(named.vector_bytes)
            dimension = fake.dimension(obj.collection, named.name)
            existing = fake.objects[obj.collection].get(object_id)
            if (
                dimension is not None
                and dimension != len(vector)
                and not (existing and len(fake.objects[obj.collection]) == 1)
            ):
                raise Refused(
                    f"new node has a vector with length {len(vector)}. Existing nodes have "
                    f"vectors with length {dimension}"
                )
            vectors[named.name] = vector
        fake.objects[obj.collection][object_id] = Stored(properties, vectors)

    def Search(self, request: Any, context: Any) -> search_get_pb2.SearchReply:
        return self.fake.grpc_call("Search", context, lambda: self._search(request))

    def _search(self, request: search_get_pb2.SearchRequest) -> search_get_pb2.SearchReply:
        fake = self.fake
        schema = fake.schema(request.collection)
        if not request.HasField("near_vector"):
            raise Refused("fake Weaviate answers near-vector searches only",
                          code=grpc.StatusCode.UNIMPLEMENTED)  # fmt: skip
        near = request.near_vector
        names = fake.vector_names(request.collection)
        targets = list(near.targets.target_vectors) or list(near.target_vectors)
        if near.vectors:
            target = near.vectors[0].name or (targets[0] if targets else names[0])
            query = _unpack(near.vectors[0].vector_bytes)
        elif near.vector_bytes:
            target = targets[0] if targets else names[0]
            query = _unpack(near.vector_bytes)
        else:
            raise Refused("near vector: no vector given")
        if len(names) > 1 and not targets and not (near.vectors and near.vectors[0].name):
            raise Refused("multiple vectors configured; a target vector is required")
        if target not in names:
            raise Refused(f"target vector '{target}' does not exist in {request.collection}")
        dimension = fake.dimension(request.collection, target)
        if dimension is not None and dimension != len(query):
            raise Refused(
                f"vector search: knn search: distance between entrypoint and query node: "
                f"vector lengths don't match: {dimension} vs {len(query)}"
            )
        keep = (
            _compile(
                request.collection, schema, request.filters, fake.filterable(request.collection)
            )
            if request.HasField("filters")
            else (lambda i, o: True)
        )
        scored = []
        for object_id, stored in fake.objects[request.collection].items():
            if target in stored.vectors and keep(object_id, stored):
                scored.append((_cosine_distance(query, stored.vectors[target]), object_id, stored))
        scored.sort(key=lambda s: (s[0], s[1]))
        limit = request.limit or 10
        results = []
        wanted = request.properties
        for distance, object_id, stored in scored[request.offset : request.offset + limit]:
            metadata = search_get_pb2.MetadataResult(
                id=object_id, id_as_bytes=uuid.UUID(object_id).bytes
            )
            if request.metadata.distance:
                metadata.distance = distance
                metadata.distance_present = True
            if request.metadata.certainty:
                metadata.certainty = 1 - distance / 2
                metadata.certainty_present = True
            asked = set(request.metadata.vectors) or (
                set(names) if request.metadata.vector else set()
            )
            for name in sorted(asked & set(stored.vectors)):
                metadata.vectors.append(base_pb2.Vectors(
                    name=name, vector_bytes=_pack(stored.vectors[name]),
                    type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32))  # fmt: skip
            props = properties_pb2.Properties()
            everything = not request.HasField("properties") or wanted.return_all_nonref_properties
            shown = set(schema) if everything else set(wanted.non_ref_properties)
            for key in sorted(shown):
                if key in stored.properties:
                    props.fields[key].CopyFrom(_to_value(schema[key], stored.properties[key]))
            results.append(search_get_pb2.SearchResult(
                metadata=metadata,
                properties=search_get_pb2.PropertiesResult(
                    non_ref_props=props, target_collection=request.collection),
            ))  # fmt: skip
        return search_get_pb2.SearchReply(took=0.001, results=results)

    def BatchDelete(self, request: Any, context: Any) -> batch_delete_pb2.BatchDeleteReply:
        def run() -> batch_delete_pb2.BatchDeleteReply:
            fake = self.fake
            schema = fake.schema(request.collection)
            if not request.HasField("filters"):
                raise Refused("batch delete: a filter is required")
            keep = _compile(
                request.collection, schema, request.filters, fake.filterable(request.collection)
            )
            space = fake.objects[request.collection]
            matched = [i for i, o in space.items() if keep(i, o)]
            if not request.dry_run:
                for object_id in matched:
                    del space[object_id]
            objects = (
                [batch_delete_pb2.BatchDeleteObject(uuid=uuid.UUID(i).bytes, successful=True)
                 for i in matched]
                if request.verbose else []
            )  # fmt: skip
            return batch_delete_pb2.BatchDeleteReply(
                took=0.001,
                failed=0,
                matches=len(matched),
                successful=0 if request.dry_run else len(matched),
                objects=objects,
            )

        return self.fake.grpc_call("BatchDelete", context, run)

    def Aggregate(self, request: Any, context: Any) -> aggregate_pb2.AggregateReply:
        def run() -> aggregate_pb2.AggregateReply:
            fake = self.fake
            schema = fake.schema(request.collection)
            if request.aggregations or request.HasField("group_by") or request.WhichOneof("search"):
                raise Refused("fake Weaviate aggregates object counts only",
                              code=grpc.StatusCode.UNIMPLEMENTED)  # fmt: skip
            keep = (
                _compile(
                    request.collection, schema, request.filters, fake.filterable(request.collection)
                )
                if request.HasField("filters")
                else (lambda i, o: True)
            )
            count = sum(1 for i, o in fake.objects[request.collection].items() if keep(i, o))
            single = aggregate_pb2.AggregateReply.Single(objects_count=count)
            return aggregate_pb2.AggregateReply(took=0.001, single_result=single)

        return self.fake.grpc_call("Aggregate", context, run)


def _health_handler(fake: FakeWeaviate) -> grpc.GenericRpcHandler:
    def check(request: Any, context: Any) -> health_weaviate_pb2.WeaviateHealthCheckResponse:
        fake.calls.append("grpc Health/Check")
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
                response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
            )
        },
    )


def _cosine_distance(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - (dot / norm if norm else 0.0)


class _RestHandler(BaseHTTPRequestHandler):
    fake: FakeWeaviate
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, answer = 400, {"error": [{"message": "invalid JSON"}]}
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = self.fake.rest(method, self.path.split("?")[0], headers, body)
        payload = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

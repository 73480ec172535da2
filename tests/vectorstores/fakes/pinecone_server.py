"""A loopback Pinecone index host: the data-plane REST API of one serverless dense index.

Speaks what the official client sends and reads: ``POST /vectors/upsert``, ``POST /query``,
``GET /vectors/fetch``, ``POST /vectors/delete``, ``POST /describe_index_stats``, with
Pinecone's JSON shapes (camelCase, ``usage.readUnits``, the default namespace reported as
``__default__``) and its error bodies (``{"code": <gRPC code>, "message": ..., "details":
[]}`` with the matching HTTP status). It rejects what the service rejects for these calls:
a missing or wrong ``Api-Key``, wrong dimensions, all-zero vectors in a cosine index,
metadata Pinecone cannot hold, malformed filters, out-of-range ``topK``. Search is exact
brute-force cosine. ``fail_next`` scripts faults (429 with ``Retry-After``, 5xx, ...).
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers.net import serve_http

_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 429: 8, 500: 13, 503: 14}
_MAX_UPSERT = 1000
_MAX_TOP_K = 10_000
_COMPARISONS = ("$gt", "$gte", "$lt", "$lte")


class PineconeFault(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Scripted:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _bad(message: str) -> PineconeFault:
    return PineconeFault(400, message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class FakePinecone:
    """``with FakePinecone.running(dimension=8) as fake:``; ``fake.host`` is the index host."""

    def __init__(self, *, dimension: int, api_key: str) -> None:
        self.dimension = dimension
        self.api_key = api_key
        self.namespaces: dict[str, dict[str, dict[str, Any]]] = {}
        self.log: list[Logged] = []
        self._faults: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self.host = ""
        """Its base URL (an index host, in Pinecone's words), once running."""

    def fail_next(
        self, status: int, message: str = "", *, headers: dict[str, str] | None = None
    ) -> None:
        """The next request is answered with ``status`` (and these headers) instead."""
        with self._lock:
            self._faults.append(Scripted(status, message or f"scripted {status}", headers or {}))

    def requests(self, path: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if path is None or r.path == path]

    @classmethod
    @contextmanager
    def running(cls, *, dimension: int, api_key: str = "pc-test-key") -> Iterator[FakePinecone]:
        fake = cls(dimension=dimension, api_key=api_key)
        with serve_http(type("Handler", (_Handler,), {"fake": fake})) as fake.host:
            yield fake

    # --- dispatch --------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.log.append(Logged(method, path, headers, body))
            fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                return fault.status, _error_body(fault.status, fault.message), fault.headers
            if headers.get("api-key") != self.api_key:
                return 401, _error_body(401, "Invalid API Key"), {}
            try:
                return 200, self._route(method, path, query, body), {}
            except PineconeFault as exc:
                return exc.status, _error_body(exc.status, exc.message), {}

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        routes = {
            ("POST", "/vectors/upsert"): self._upsert,
            ("POST", "/query"): self._query,
            ("POST", "/vectors/delete"): self._delete,
            ("POST", "/describe_index_stats"): self._stats,
            ("POST", "/vectors/fetch_by_metadata"): self._fetch_by_metadata,
        }
        if (method, path) == ("GET", "/vectors/fetch"):
            return self._fetch(query)
        route = routes.get((method, path))
        if route is None:
            raise PineconeFault(404, f"Not Found: {method} {path}")
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        return route(body)

    # --- operations ------------------------------------------------------------------

    def _upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise _bad("Invalid request: `vectors` must contain at least one vector")
        if len(vectors) > _MAX_UPSERT:
            raise _bad(f"Request contains {len(vectors)} vectors; the maximum is {_MAX_UPSERT}")
        rows = [self._check_vector(v) for v in vectors]
        space = self.namespaces.setdefault(str(body.get("namespace") or ""), {})
        for row in rows:
            space[row["id"]] = row
        return {"upsertedCount": len(rows)}

    def _check_vector(self, vector: Any) -> dict[str, Any]:
        if not isinstance(vector, dict):
            raise _bad("each vector must be an object")
        vid = vector.get("id")
        if not isinstance(vid, str) or not vid or len(vid) > 512:
            raise _bad("Vector ID must be a non-empty string of at most 512 characters")
        self._check_values(vector.get("values"), what=f"Vector ID {vid}")
        metadata = vector.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise _bad(f"Metadata for vector {vid} must be an object")
            for key, value in metadata.items():
                ok = (
                    isinstance(value, str | bool)
                    or (_is_number(value) and math.isfinite(value))
                    or (isinstance(value, list) and all(isinstance(v, str) for v in value))
                )
                if not ok:
                    raise _bad(
                        f"Metadata value must be a string, number, boolean or list of strings, "
                        f"got '{json.dumps(value)}' for field '{key}'"
                    )
        if metadata is not None:  # Pinecone keeps every number as a 64-bit float
            metadata = {k: float(v) if _is_number(v) else v for k, v in metadata.items()}
        return {"id": vid, "values": [float(x) for x in vector["values"]], "metadata": metadata}

    def _check_values(self, values: Any, *, what: str) -> None:
        if not isinstance(values, list) or not all(_is_number(x) for x in values):
            raise _bad(f"{what}: `values` must be a list of numbers")
        if len(values) != self.dimension:
            raise _bad(
                f"Vector dimension {len(values)} does not match the dimension of the index "
                f"{self.dimension}"
            )
        if not any(values):
            raise _bad(f"{what}: Dense vectors must contain at least one non-zero value")

    def _query(self, body: dict[str, Any]) -> dict[str, Any]:
        top_k = body.get("topK")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= _MAX_TOP_K:
            raise _bad(f"Invalid request: topK must be between 1 and {_MAX_TOP_K}")
        namespace = str(body.get("namespace") or "")
        space = self.namespaces.get(namespace, {})
        if "id" in body and "vector" in body:
            raise _bad("Invalid request: exactly one of `vector` and `id` may be given")
        if "id" in body:
            source = space.get(body["id"])
            query = source["values"] if source else None
        else:
            self._check_values(body.get("vector"), what="query")
            query = [float(x) for x in body["vector"]]
        condition = body.get("filter")
        if condition is not None:
            _check_filter(condition)
        matches = []
        if query is not None:
            for row in space.values():
                if condition is not None and not _matches(row["metadata"] or {}, condition):
                    continue
                matches.append((_cosine(query, row["values"]), row))
        matches.sort(key=lambda m: (-m[0], m[1]["id"]))
        out = []
        for score, row in matches[:top_k]:
            match: dict[str, Any] = {
                "id": row["id"],
                "score": score,
                "values": row["values"] if body.get("includeValues") else [],
            }
            if body.get("includeMetadata") and row["metadata"]:
                match["metadata"] = row["metadata"]
            out.append(match)
        return {
            "results": [],
            "matches": out,
            "namespace": namespace,
            "usage": {"readUnits": max(1, len(space) // 1000 + 1)},
        }

    def _fetch(self, query: dict[str, list[str]]) -> dict[str, Any]:
        ids = query.get("ids") or []
        if not ids:
            raise _bad("Invalid request: `ids` must contain at least one ID")
        if len(ids) > 1000:
            raise _bad("Invalid request: at most 1000 IDs per fetch")
        namespace = (query.get("namespace") or [""])[-1]
        space = self.namespaces.get(namespace, {})
        vectors = {}
        for vid in ids:
            row = space.get(vid)
            if row is not None:
                shown = {"id": vid, "values": row["values"]}
                if row["metadata"]:
                    shown["metadata"] = row["metadata"]
                vectors[vid] = shown
        return {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}}

    def _fetch_by_metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        condition = body.get("filter")
        if not condition:
            raise _bad("Empty filter provided for fetch by metadata request")
        _check_filter(condition)
        limit = body.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise _bad("Invalid request: limit must be between 1 and 10000")
        namespace = str(body.get("namespace") or "")
        space = self.namespaces.get(namespace, {})
        ids = sorted(v for v, row in space.items() if _matches(row["metadata"] or {}, condition))
        token = body.get("paginationToken")
        start = int(token) if isinstance(token, str) and token.isdigit() else 0
        page = ids[start : start + limit]
        vectors = {}
        for vid in page:
            row = space[vid]
            vectors[vid] = {"id": vid, "values": row["values"], **(
                {"metadata": row["metadata"]} if row["metadata"] else {})}  # fmt: skip
        answer: dict[str, Any] = {"vectors": vectors, "namespace": namespace,
                                  "usage": {"readUnits": 1}}  # fmt: skip
        if start + limit < len(ids):
            answer["pagination"] = {"next": str(start + limit)}
        return answer

    def _delete(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("ids")
        delete_all = bool(body.get("deleteAll"))
        condition = body.get("filter")
        if sum((ids is not None, delete_all, condition is not None)) != 1:
            raise _bad("Invalid request: give exactly one of `ids`, `deleteAll` and `filter`")
        space = self.namespaces.get(str(body.get("namespace") or ""), {})
        if delete_all:
            space.clear()
        elif ids is not None:
            if not isinstance(ids, list) or len(ids) > 1000:
                raise _bad("Invalid request: `ids` must be a list of at most 1000 IDs")
            for vid in ids:
                space.pop(vid, None)
        else:
            _check_filter(condition)
            for vid in [
                v for v, row in space.items() if _matches(row["metadata"] or {}, condition)
            ]:
                del space[vid]
        return {}

    def _stats(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("filter") is not None:
            raise _bad("Serverless and starter indexes do not support describing index stats "
                       "with metadata filtering.")  # fmt: skip
        namespaces = {
            (name or "__default__"): {"vectorCount": len(space)}
            for name, space in self.namespaces.items()
            if space
        }
        return {
            "namespaces": namespaces,
            "dimension": self.dimension,
            "indexFullness": 0,
            "totalVectorCount": sum(n["vectorCount"] for n in namespaces.values()),
            "metric": "cosine",
            "vectorType": "dense",
        }


# --- filters: Pinecone's metadata query language ------------------------------------------


def _check_filter(condition: Any) -> None:
    if not isinstance(condition, dict) or not condition:
        raise _bad("Invalid filter: a filter must be a non-empty object")
    for key, value in condition.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _bad(f"Invalid filter: {key} operator must be a non-empty array")
            for part in value:
                _check_filter(part)
        elif key.startswith("$"):
            raise _bad(f"Invalid filter: unknown operator {key}")
        elif isinstance(value, dict):
            if not value:
                raise _bad(f"Invalid filter: empty condition for field {key}")
            for op, operand in value.items():
                _check_operand(key, op, operand)
        else:
            _check_operand(key, "$eq", value)


def _check_operand(key: str, op: str, operand: Any) -> None:
    if op in ("$eq", "$ne"):
        if not (isinstance(operand, str | bool) or _is_number(operand)):
            raise _bad(f"Invalid filter: {op} on {key} must be a string, number or boolean")
    elif op in ("$in", "$nin"):
        if not isinstance(operand, list) or not all(
            isinstance(v, str) or _is_number(v) for v in operand
        ):
            raise _bad(f"Invalid filter: {op} on {key} must be an array of strings or numbers")
    elif op in _COMPARISONS:
        if not _is_number(operand):
            raise _bad(f"Invalid filter: {op} on {key} must be a number")
    elif op == "$exists":
        if not isinstance(operand, bool):
            raise _bad(f"Invalid filter: $exists on {key} must be a boolean")
    else:
        raise _bad(f"Invalid filter: unknown operator {op}")


def _matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    for key, value in condition.items():
        if key == "$and":
            ok = all(_matches(metadata, c) for c in value)
        elif key == "$or":
            ok = any(_matches(metadata, c) for c in value)
        elif isinstance(value, dict):
            ok = all(_test(metadata, key, op, operand) for op, operand in value.items())
        else:
            ok = _test(metadata, key, "$eq", value)
        if not ok:
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return bool(a == b)


def _test(metadata: dict[str, Any], key: str, op: str, operand: Any) -> bool:
    present = key in metadata
    value = metadata.get(key)
    values = value if isinstance(value, list) else [value]
    if op == "$exists":
        return present is operand
    if op == "$eq":
        return present and any(_same(v, operand) for v in values)
    if op == "$ne":
        return not (present and any(_same(v, operand) for v in values))
    if op == "$in":
        return present and any(_same(v, o) for v in values for o in operand)
    if op == "$nin":
        return not (present and any(_same(v, o) for v in values for o in operand))
    if not present or not _is_number(value):
        return False
    number = float(value)
    return {
        "$gt": number > operand,
        "$gte": number >= operand,
        "$lt": number < operand,
        "$lte": number <= operand,
    }[op]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": _GRPC_CODE.get(status, 2), "message": message, "details": []}


class _Handler(BaseHTTPRequestHandler):
    fake: FakePinecone
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            status, answer, extra = 400, _error_body(400, "Invalid JSON in request body"), {}
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer, extra = self.fake.handle(
                method, url.path, parse_qs(url.query), headers, body
            )
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-pinecone-request-id", "fake-1")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

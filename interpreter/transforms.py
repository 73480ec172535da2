"""The built-in transform functions: pure, deterministic, one table.

Validation checks `function:` names against :data:`FUNCTIONS` and the `transform`
activity runs them, so the two can never disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from interpreter.errors import StepError

__all__ = ["FUNCTIONS", "apply_function", "matches"]

Fn = Callable[[Any, Mapping[str, Any]], Any]


def matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Row matching for the `filter` transform: the same operators as store filters, with
    Python's lenient equality (``None``, lists and mixed types allowed)."""
    for key, expected in condition.items():
        if key == "$and":
            if not all(matches(metadata, c) for c in expected):
                return False
        elif key == "$or":
            if not any(matches(metadata, c) for c in expected):
                return False
        elif isinstance(expected, dict):
            value = metadata.get(key)
            if not all(_compare(op, value, operand) for op, operand in expected.items()):
                return False
        elif metadata.get(key) != expected:
            return False
    return True


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op == "$in":
        return value in operand
    if op == "$nin":
        return value not in operand
    if value is None:
        return False
    try:
        if op == "$gt":
            return bool(value > operand)
        if op == "$gte":
            return bool(value >= operand)
        if op == "$lt":
            return bool(value < operand)
        if op == "$lte":
            return bool(value <= operand)
    except TypeError:
        return False
    raise StepError("transform", f"unsupported filter operator `{op}`")


def _one(value: Any) -> Any:
    """Functions of one value accept it bare or as a one-item list (original format)."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _merge(value: Any, params: Mapping[str, Any]) -> Any:
    items = _items(value)
    if all(isinstance(i, Mapping) for i in items):
        merged: dict[str, Any] = {}
        for item in items:
            merged.update(item)
        return merged
    if all(isinstance(i, list) for i in items):
        return [x for item in items for x in item]
    return str(params.get("separator", "\n")).join("" if i is None else str(i) for i in items)


def _concat(value: Any, params: Mapping[str, Any]) -> Any:
    items = _items(value)
    if items and all(isinstance(i, list) for i in items):
        return [x for item in items for x in item]
    return str(params.get("separator", "")).join("" if i is None else str(i) for i in items)


def _filter(value: Any, params: Mapping[str, Any]) -> Any:
    rows = _items(_one(value) if isinstance(_one(value), list) else value)
    where = params.get("where")
    if where is None and "key" in params:
        where = {params["key"]: params.get("value")}
    if not isinstance(where, Mapping):
        raise StepError("transform", "`filter` needs `key` and `value`, or `where: {field: value}`")
    return [row for row in rows if isinstance(row, Mapping) and matches(dict(row), dict(where))]


def _get(row: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(row, Mapping):
            row = row.get(part)
        else:
            return None
    return row


def _pick(value: Any, params: Mapping[str, Any]) -> Any:
    fields = params.get("fields") or params.get("keys")
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list):
        raise StepError("transform", "`pick` needs `fields: [name, ...]`")
    value = _one(value)
    if isinstance(value, list):
        return [{f: _get(row, f) for f in fields} for row in value]
    return {f: _get(value, f) for f in fields}


def _extract_metadata(value: Any, params: Mapping[str, Any]) -> Any:
    rows = _one(value)
    fields = params.get("fields")
    out = []
    for row in _items(rows):
        metadata = row.get("metadata") if isinstance(row, Mapping) else None
        metadata = metadata if isinstance(metadata, Mapping) else {}
        out.append({f: metadata.get(f) for f in fields} if fields else dict(metadata))
    return out


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _json_parse(value: Any, params: Mapping[str, Any]) -> Any:
    text = _one(value)
    if not isinstance(text, str):
        return text
    fenced = _FENCE.match(text)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as exc:
        raise StepError(
            "transform",
            f"json_parse: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from None


def _split(value: Any, params: Mapping[str, Any]) -> Any:
    text = _one(value)
    if not isinstance(text, str):
        raise StepError("transform", "`split` needs a string")
    parts = text.split(str(params.get("separator", "\n")))
    if params.get("strip", True):
        parts = [p.strip() for p in parts]
    return [p for p in parts if p] if params.get("drop_empty", True) else parts


def _sort(value: Any, params: Mapping[str, Any]) -> Any:
    key = params.get("key")
    rows = _items(_one(value))
    return sorted(
        rows,
        key=(lambda r: _get(r, key)) if key else None,
        reverse=bool(params.get("reverse", False)),
    )


def _unique(value: Any, params: Mapping[str, Any]) -> Any:
    out: list[Any] = []
    for item in _items(_one(value)):
        if item not in out:
            out.append(item)
    return out


FUNCTIONS: dict[str, Fn] = {
    "identity": lambda v, p: _one(v),
    "merge": _merge,
    "concat": _concat,
    "filter": _filter,
    "pick": _pick,
    "extract_metadata": _extract_metadata,
    "json_parse": _json_parse,
    "json_stringify": lambda v, p: json.dumps(_one(v), ensure_ascii=False, indent=p.get("indent")),
    "split": _split,
    "join": lambda v, p: str(p.get("separator", "\n")).join(str(i) for i in _items(_one(v))),
    "first": lambda v, p: (_items(_one(v)) or [None])[0],
    "last": lambda v, p: (_items(_one(v)) or [None])[-1],
    "length": lambda v, p: len(_one(v)) if _one(v) is not None else 0,
    "upper": lambda v, p: str(_one(v)).upper(),
    "lower": lambda v, p: str(_one(v)).lower(),
    "trim": lambda v, p: str(_one(v)).strip(),
    "flatten": lambda v, p: [x for item in _items(_one(v)) for x in _items(item)],
    "unique": _unique,
    "sort": _sort,
}


def apply_function(name: str, inputs: Any, params: Mapping[str, Any]) -> Any:
    """Run built-in ``name`` over ``inputs``; :class:`StepError` on bad data."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise StepError("transform", f"unknown transform function `{name}`")
    try:
        return fn(inputs, params)
    except StepError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise StepError("transform", f"`{name}` could not process its inputs: {exc}") from None

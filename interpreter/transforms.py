"""The built-in transform functions: pure, deterministic, one table.

Validation checks `function:` names against :data:`FUNCTIONS` and the workflow
runs them (so did the `step_transform` activity of older runs), so the two can
never disagree.

They run in the workflow thread, which holds the GIL for every run on the worker,
so each call is bounded (:mod:`interpreter.template_limits`): work that grows faster
than the data (rows x fields, a separator repeated per item, comparisons) is charged
*before* it is done against ``transform_work``, and the output's size is checked
against ``transform_output``. Going over fails the step with a message naming the
limit, not the worker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from interpreter.errors import StepError
from interpreter.template_limits import LIMITS, Limits

__all__ = ["FUNCTIONS", "apply_function", "check_output", "matches"]

Fn = Callable[[Any, Mapping[str, Any]], Any]


class _TooCostly(Exception):
    """A call went over a limit (the message says which)."""


class _Work:
    """What is left of one call's ``transform_work``."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.left = self.limit = limit

    def charge(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise _TooCostly(
                f"it would visit or build more than {self.limit:,} values "
                "(LLM_ORCHESTRATOR_TEMPLATE_MAX_TRANSFORM_WORK)"
            )


_WORK: ContextVar[_Work | None] = ContextVar("transform_work", default=None)


def _charge(amount: int) -> None:
    work = _WORK.get()
    if work is not None:  # outside apply_function (unit tests of one helper): unbounded
        work.charge(amount)


def _check_text(length: int, limits: Limits = LIMITS) -> None:
    if length > limits.transform_output:
        raise _TooCostly(
            f"its output would be larger than {limits.transform_output:,} characters "
            "(LLM_ORCHESTRATOR_TEMPLATE_MAX_TRANSFORM_OUTPUT)"
        )


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


def _joined(items: list[Any], sep: Any, *, none_as_empty: bool = True) -> str:
    """``separator.join`` of the items as text, refused before it is built if the
    separator repeated per item would make it too large."""
    separator = str(sep)
    _charge(len(items))
    _check_text(len(separator) * max(len(items) - 1, 0))
    return separator.join("" if i is None and none_as_empty else str(i) for i in items)


def _chained(items: list[Any]) -> list[Any]:
    _charge(sum(len(item) for item in items))
    return [x for item in items for x in item]


def _merge(value: Any, params: Mapping[str, Any]) -> Any:
    items = _items(value)
    if all(isinstance(i, Mapping) for i in items):
        _charge(sum(len(item) for item in items))
        merged: dict[str, Any] = {}
        for item in items:
            merged.update(item)
        return merged
    if all(isinstance(i, list) for i in items):
        return _chained(items)
    return _joined(items, params.get("separator", "\n"))


def _concat(value: Any, params: Mapping[str, Any]) -> Any:
    items = _items(value)
    if items and all(isinstance(i, list) for i in items):
        return _chained(items)
    return _joined(items, params.get("separator", ""))


def _condition_size(condition: Any) -> int:
    """How many tests one row costs (``$and``/``$or`` nest)."""
    if isinstance(condition, Mapping):
        return sum(1 + _condition_size(v) for v in condition.values())
    if isinstance(condition, list):
        return sum(_condition_size(v) for v in condition)
    return 0


def _filter(value: Any, params: Mapping[str, Any]) -> Any:
    rows = _items(_one(value) if isinstance(_one(value), list) else value)
    where = params.get("where")
    if where is None and "key" in params:
        where = {params["key"]: params.get("value")}
    if not isinstance(where, Mapping):
        raise StepError("transform", "`filter` needs `key` and `value`, or `where: {field: value}`")
    _charge(len(rows) * max(_condition_size(where), 1))
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
        _charge(len(value) * len(fields))
        return [{f: _get(row, f) for f in fields} for row in value]
    _charge(len(fields))
    return {f: _get(value, f) for f in fields}


def _extract_metadata(value: Any, params: Mapping[str, Any]) -> Any:
    rows = _items(_one(value))
    fields = params.get("fields")
    _charge(len(rows) * (len(fields) if fields else 1))
    out = []
    for row in rows:
        metadata = row.get("metadata") if isinstance(row, Mapping) else None
        metadata = metadata if isinstance(metadata, Mapping) else {}
        if not fields:
            _charge(len(metadata))
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
    separator = str(params.get("separator", "\n"))
    if separator:
        _charge(text.count(separator) + 1)
    parts = text.split(separator)
    if params.get("strip", True):
        parts = [p.strip() for p in parts]
    return [p for p in parts if p] if params.get("drop_empty", True) else parts


def _sort(value: Any, params: Mapping[str, Any]) -> Any:
    key = params.get("key")
    rows = _items(_one(value))
    _charge(len(rows) * max(len(rows).bit_length(), 1))
    return sorted(
        rows,
        key=(lambda r: _get(r, key)) if key else None,
        reverse=bool(params.get("reverse", False)),
    )


def _unique(value: Any, params: Mapping[str, Any]) -> Any:
    """The items in order without repeats (``==``, as ``item in list`` says), in linear
    time for hashable items; objects and lists are compared one by one, and charged so."""
    items = _items(_one(value))
    _charge(len(items))
    out: list[Any] = []
    seen: set[Any] = set()
    others: list[Any] = []
    for item in items:
        try:
            if item in seen:
                continue
            seen.add(item)
        except TypeError:  # unhashable: dicts and lists
            _charge(len(others))
            if item in others:
                continue
            others.append(item)
        out.append(item)
    return out


def _flatten(value: Any, params: Mapping[str, Any]) -> Any:
    items = [_items(item) for item in _items(_one(value))]
    return _chained(items)


def _json_stringify(value: Any, params: Mapping[str, Any]) -> Any:
    indent = params.get("indent")
    width = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if width > _MAX_INDENT:
        raise StepError("transform", f"json_stringify: `indent` is at most {_MAX_INDENT}")
    return json.dumps(_one(value), ensure_ascii=False, indent=indent)


_MAX_INDENT = 32


FUNCTIONS: dict[str, Fn] = {
    "identity": lambda v, p: _one(v),
    "merge": _merge,
    "concat": _concat,
    "filter": _filter,
    "pick": _pick,
    "extract_metadata": _extract_metadata,
    "json_parse": _json_parse,
    "json_stringify": _json_stringify,
    "split": _split,
    "join": lambda v, p: _joined(_items(_one(v)), p.get("separator", "\n"), none_as_empty=False),
    "first": lambda v, p: (_items(_one(v)) or [None])[0],
    "last": lambda v, p: (_items(_one(v)) or [None])[-1],
    "length": lambda v, p: len(_one(v)) if _one(v) is not None else 0,
    "upper": lambda v, p: str(_one(v)).upper(),
    "lower": lambda v, p: str(_one(v)).lower(),
    "trim": lambda v, p: str(_one(v)).strip(),
    "flatten": _flatten,
    "unique": _unique,
    "sort": _sort,
}


def apply_function(
    name: str, inputs: Any, params: Mapping[str, Any], *, limits: Limits = LIMITS
) -> Any:
    """Run built-in ``name`` over ``inputs``, within ``limits``; :class:`StepError` on bad
    data or when the call would cost more than the limits allow."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise StepError("transform", f"unknown transform function `{name}`")
    token = _WORK.set(_Work(limits.transform_work))
    try:
        output = fn(inputs, params)
        check_output(output, limits)
        return output
    except StepError:
        raise
    except _TooCostly as exc:
        raise StepError("transform", f"`{name}` is too costly: {exc}") from None
    except RecursionError:
        raise StepError("transform", f"`{name}`: its inputs are nested too deeply") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise StepError("transform", f"`{name}` could not process its inputs: {exc}") from None
    finally:
        _WORK.reset(token)


def check_output(value: Any, limits: Limits = LIMITS) -> None:
    """Refuse an output larger than ``transform_output`` (text counts its characters,
    every other value one); the walk stops as soon as it is over."""
    budget = limits.transform_output
    for size in _sizes(value):
        budget -= size
        if budget < 0:
            raise StepError(
                "transform",
                f"the output is larger than {limits.transform_output:,} characters "
                "(LLM_ORCHESTRATOR_TEMPLATE_MAX_TRANSFORM_OUTPUT)",
            )


def _sizes(value: Any) -> Iterator[int]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield len(item) + 1
        elif isinstance(item, Mapping):
            yield 1
            for key, child in item.items():
                yield len(key) if isinstance(key, str) else 1
                stack.append(child)
        elif isinstance(item, list | tuple):
            yield 1
            stack.extend(item)
        else:
            yield 1

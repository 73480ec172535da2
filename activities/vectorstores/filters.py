"""The common metadata filter syntax: parse it once, then evaluate or translate it.

Syntax (MongoDB/Pinecone style)::

    {"source": "a.md"}                              equality (same as {"$eq": ...})
    {"year": {"$gte": 2020, "$lt": 2024}}           several operators on one key: all must hold
    {"lang": {"$in": ["en", "de"]}}                 $in / $nin: a list of values
    {"$or": [{"team": "a"}, {"public": true}]}      $and / $or: a list of filters
    {"team": "a", "draft": {"$ne": true}}           several keys: all must hold

Semantics, the same on every backend (the behavioural tests hold them to it):

- values are strings, numbers or booleans; types never mix: ``"2"`` is not ``2``
  and ``true`` is not ``1``; numbers compare numerically (``2 == 2.0``);
- ``$gt/$gte/$lt/$lte`` take a number or a string (strings compare by code point);
  a record whose value has another type, or no value, does not match;
- ``$eq``/``$in`` need the key to be present; ``$ne``/``$nin`` match records that
  lack the key (they are exactly ``not $eq`` / ``not $in``);
- metadata values that are lists or objects are never matched.

:func:`parse` validates a filter into a small tree (:class:`Compare`,
:class:`Member`, :class:`And`, :class:`Or`); :func:`matches` evaluates it in
Python (the in-memory store); :func:`to_lance_sql` and :func:`to_pg_sql`
translate it. A backend module that cannot express a node raises
:class:`InvalidFilter` naming it — a filter is never silently dropped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from activities.vectorstores.base import InvalidFilter

__all__ = [
    "And",
    "Compare",
    "Expr",
    "Member",
    "Or",
    "matches",
    "parse",
    "to_lance_sql",
    "to_pg_sql",
]

Scalar: TypeAlias = str | int | float | bool
CompareOp = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]
MemberOp = Literal["$in", "$nin"]

_COMPARE_OPS: tuple[CompareOp, ...] = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_MEMBER_OPS: tuple[MemberOp, ...] = ("$in", "$nin")
_RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
_SUPPORTED = ", ".join((*_COMPARE_OPS, *_MEMBER_OPS, "$and", "$or"))
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")


@dataclass(frozen=True)
class Compare:
    key: str
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class Member:
    key: str
    op: MemberOp
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr: TypeAlias = Compare | Member | And | Or


# --- parsing ----------------------------------------------------------------------------


def parse(filter: Mapping[str, Any] | None) -> Expr | None:
    """Validate ``filter``; ``None`` for no filter (``None`` or ``{}``)."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidFilter(f"filter must be an object, got {_kind(filter)}")
    if not filter:
        return None
    return _parse_object(filter, "filter")


def _parse_object(node: Mapping[str, Any], where: str) -> Expr:
    items: list[Expr] = []
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidFilter(f"{where}.{key}: needs a non-empty list of filters")
            parts = []
            for i, part in enumerate(value):
                if not isinstance(part, Mapping) or not part:
                    raise InvalidFilter(
                        f"{where}.{key}[{i}]: needs a non-empty object, got {_kind(part)}"
                    )
                parts.append(_parse_object(part, f"{where}.{key}[{i}]"))
            items.append(And(tuple(parts)) if key == "$and" else Or(tuple(parts)))
        elif key.startswith("$"):
            raise InvalidFilter(f"{where}: unknown operator `{key}` (supported: {_SUPPORTED})")
        else:
            if not _KEY.fullmatch(key):
                raise InvalidFilter(
                    f"{where}: metadata key {key!r} is not supported: use letters, digits, "
                    "`_`, `-` and `.` (at most 64, not starting with a digit)"
                )
            items.extend(_parse_field(key, value, f"{where}.{key}"))
    return items[0] if len(items) == 1 else And(tuple(items))


def _parse_field(key: str, value: Any, where: str) -> list[Expr]:
    if not isinstance(value, Mapping):
        return [Compare(key, "$eq", _scalar(value, where))]
    if not value:
        raise InvalidFilter(f"{where}: an empty operator object matches nothing useful")
    out: list[Expr] = []
    for op, operand in value.items():
        if op in _MEMBER_OPS:
            if not isinstance(operand, list):
                raise InvalidFilter(f"{where}.{op}: needs a list of values, got {_kind(operand)}")
            values = tuple(_scalar(v, f"{where}.{op}[{i}]") for i, v in enumerate(operand))
            out.append(Member(key, op, values))
        elif op in _COMPARE_OPS:
            scalar = _scalar(operand, f"{where}.{op}")
            if op in _RANGE_OPS and isinstance(scalar, bool):
                raise InvalidFilter(f"{where}.{op}: needs a number or a string, got a boolean")
            out.append(Compare(key, op, scalar))
        else:
            hint = (
                " (`$and`/`$or` go at the top of a filter object)" if op in ("$and", "$or") else ""
            )
            raise InvalidFilter(f"{where}: unknown operator `{op}` (supported: {_SUPPORTED}){hint}")
    return out


def _scalar(value: Any, where: str) -> Scalar:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidFilter(f"{where}: {value} is not a finite number")
        return value
    if isinstance(value, list):
        raise InvalidFilter(f"{where}: a list is not a value; use {{'$in': [...]}}")
    raise InvalidFilter(f"{where}: needs a string, number or boolean, got {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# --- evaluation (the in-memory store) ---------------------------------------------------


def _class(value: Any) -> str | None:
    """The comparison class of a metadata value: bool, number, str, or None (never matches)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def _equal(value: Any, operand: Scalar) -> bool:
    return _class(value) is not None and _class(value) == _class(operand) and value == operand


def evaluate(expr: Expr | None, metadata: Mapping[str, Any]) -> bool:
    """Does ``metadata`` satisfy the parsed filter ``expr``?"""
    if expr is None:
        return True
    if isinstance(expr, And):
        return all(evaluate(item, metadata) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(item, metadata) for item in expr.items)
    value: Any = metadata.get(expr.key)
    if isinstance(expr, Member):
        found = any(_equal(value, v) for v in expr.values)
        return found if expr.op == "$in" else not found
    if expr.op == "$eq":
        return _equal(value, expr.value)
    if expr.op == "$ne":
        return not _equal(value, expr.value)
    if _class(value) != _class(expr.value) or _class(value) not in ("number", "str"):
        return False
    if expr.op == "$gt":
        return bool(value > expr.value)
    if expr.op == "$gte":
        return bool(value >= expr.value)
    if expr.op == "$lt":
        return bool(value < expr.value)
    return bool(value <= expr.value)


def matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Does ``metadata`` satisfy the common-syntax ``filter``? (Parses it each call.)"""
    return evaluate(parse(filter), metadata)


# --- LanceDB: a SQL where-clause over a JSON column -------------------------------------
#
# LanceDB's filter has no bound parameters, so values become SQL string literals
# with quotes doubled (its parser treats backslashes literally). Metadata lives in
# a JSON column; `json_extract` yields a value's JSON text, which keeps types
# apart: '"2"' (a string), '2' (a number), 'true'. Every comparison below is
# written to be TRUE or FALSE, never NULL, so that NOT (for $ne/$nin) is exact.


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_num(value: int | float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def to_lance_sql(expr: Expr | None, *, column: str = "metadata") -> str | None:
    """The where-clause for ``expr`` over the JSON column ``column``."""
    if expr is None:
        return None
    return _lance(expr, column)


def _lance(expr: Expr, column: str) -> str:
    if isinstance(expr, And | Or):
        joiner = " AND " if isinstance(expr, And) else " OR "
        return "(" + joiner.join(_lance(item, column) for item in expr.items) + ")"
    # keys are checked by the parser (no quotes), so the JSON path needs no escaping
    text = f"json_extract({column}, {_sql_str(f'$[{json.dumps(expr.key)}]')})"
    if isinstance(expr, Member):
        if not expr.values:
            return "(1 = 0)" if expr.op == "$in" else "(1 = 1)"
        any_of = " OR ".join(_lance_eq(text, v) for v in expr.values)
        return f"({any_of})" if expr.op == "$in" else f"(NOT ({any_of}))"
    if expr.op == "$eq":
        return _lance_eq(text, expr.value)
    if expr.op == "$ne":
        return f"(NOT {_lance_eq(text, expr.value)})"
    sign = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[expr.op]
    if isinstance(expr.value, str):
        # strings: the JSON text without its quotes; same order as the raw text
        # unless a value holds quotes, backslashes or control characters
        quoted = json.dumps(expr.value, ensure_ascii=False).strip('"')
        return (
            f"({text} IS NOT NULL AND {text} LIKE '\"%' AND "
            f"btrim({text}, '\"') {sign} {_sql_str(quoted)})"
        )
    number = f"try_cast({text} AS DOUBLE)"
    return f"({number} IS NOT NULL AND {number} {sign} {_sql_num(expr.value)})"


def _lance_eq(text: str, value: Scalar) -> str:
    if isinstance(value, bool):
        literal = "'true'" if value else "'false'"
        return f"({text} IS NOT NULL AND {text} = {literal})"
    if isinstance(value, str):
        encoded = json.dumps(value, ensure_ascii=False)
        return f"({text} IS NOT NULL AND {text} = {_sql_str(encoded)})"
    number = f"try_cast({text} AS DOUBLE)"
    return f"({number} IS NOT NULL AND {number} = {_sql_num(value)})"


# --- PostgreSQL: jsonb with bound parameters ---------------------------------------------


def to_pg_sql(expr: Expr | None, *, column: str = "metadata") -> tuple[str, list[Any]]:
    """``(sql, params)`` for ``expr`` over the jsonb column ``column``; keys and values are
    all ``%s`` parameters. ``("TRUE", [])`` for no filter."""
    if expr is None:
        return "TRUE", []
    params: list[Any] = []
    return _pg(expr, column, params), params


def _pg(expr: Expr, column: str, params: list[Any]) -> str:
    if isinstance(expr, And | Or):
        joiner = " AND " if isinstance(expr, And) else " OR "
        return "(" + joiner.join(_pg(item, column, params) for item in expr.items) + ")"
    if isinstance(expr, Member):
        if not expr.values:
            return "FALSE" if expr.op == "$in" else "TRUE"
        any_of = " OR ".join(_pg_eq(expr.key, v, column, params) for v in expr.values)
        return f"({any_of})" if expr.op == "$in" else f"(NOT ({any_of}))"
    if expr.op == "$eq":
        return _pg_eq(expr.key, expr.value, column, params)
    if expr.op == "$ne":
        return f"(NOT {_pg_eq(expr.key, expr.value, column, params)})"
    sign = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[expr.op]
    # CASE fixes the evaluation order: the cast only sees values of the right type
    if isinstance(expr.value, str):
        params.extend([expr.key, expr.key, expr.value])
        return (
            f"(CASE WHEN jsonb_typeof({column} -> %s) = 'string' "
            f'THEN ({column} ->> %s) COLLATE "C" {sign} %s::text ELSE FALSE END)'
        )
    params.extend([expr.key, expr.key, expr.value])
    return (
        f"(CASE WHEN jsonb_typeof({column} -> %s) = 'number' "
        f"THEN ({column} -> %s)::numeric {sign} %s::numeric ELSE FALSE END)"
    )


def _pg_eq(key: str, value: Scalar, column: str, params: list[Any]) -> str:
    # jsonb containment keeps types apart ("2" vs 2 vs true), compares numbers by
    # value, never yields NULL, and can use a GIN index on the column
    params.append(json.dumps({key: value}))
    return f"({column} @> %s::jsonb)"

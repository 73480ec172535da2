"""The common filter syntax: what it accepts, what it refuses, and how it is translated."""

from __future__ import annotations

from typing import Any

import pytest

from activities.vectorstores.base import InvalidFilter
from activities.vectorstores.filters import (
    And,
    Compare,
    Member,
    Or,
    matches,
    parse,
    to_lance_sql,
    to_pg_sql,
)


def test_parse_builds_the_tree() -> None:
    expr = parse({"source": "a.md", "year": {"$gte": 2020, "$lt": 2024}, "$or": [{"x": 1}]})
    assert expr == And(
        (
            Compare("source", "$eq", "a.md"),
            Compare("year", "$gte", 2020),
            Compare("year", "$lt", 2024),
            Or((Compare("x", "$eq", 1),)),
        )
    )
    assert parse({"lang": {"$in": ["en", "de"]}}) == Member("lang", "$in", ("en", "de"))
    assert parse(None) is None
    assert parse({}) is None


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"a": {"$regex": "x"}}, r"filter\.a: unknown operator `\$regex`"),
        ({"$not": {"a": 1}}, r"unknown operator `\$not`"),
        ({"a": {"$and": [{"b": 1}]}}, r"`\$and`/`\$or` go at the top"),
        ({"a": [1, 2]}, r"a list is not a value; use \{'\$in'"),
        ({"a": None}, "got null"),
        ({"a": {"x": 1}}, r"unknown operator `x`"),
        ({"a": {}}, "empty operator object"),
        ({"a": {"$gt": True}}, r"\$gt: needs a number or a string, got a boolean"),
        ({"a": {"$in": "en"}}, r"\$in: needs a list of values"),
        ({"a": {"$in": [["x"]]}}, r"\$in\[0\]: a list is not a value"),
        ({"a": float("nan")}, "not a finite number"),
        ({"$and": []}, r"\$and: needs a non-empty list"),
        ({"$or": [1]}, r"\$or\[0\]: needs a non-empty object"),
        ({"bad key": 1}, "metadata key 'bad key' is not supported"),
        ({"a'b": 1}, "is not supported"),
    ],
)
def test_invalid_filters_say_where_and_why(condition: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidFilter, match=message):
        parse(condition)


def test_types_never_mix_and_missing_keys_match_only_negations() -> None:
    row = {"n": 2, "s": "2", "b": True, "f": 2.0, "l": [1]}
    assert matches(row, {"n": 2}) and matches(row, {"n": 2.0}) and matches(row, {"f": 2})
    assert not matches(row, {"n": "2"}) and not matches(row, {"s": 2})
    assert not matches(row, {"b": 1}) and not matches({"n": 1}, {"n": True})
    assert not matches(row, {"l": 1}) and not matches(row, {"l": {"$in": [1]}})
    assert matches(row, {"missing": {"$ne": 1}}) and matches(row, {"missing": {"$nin": [1]}})
    assert not matches(row, {"missing": {"$lt": 5}}) and not matches(row, {"s": {"$lt": 5}})
    assert matches({"d": "2024-03-01"}, {"d": {"$gte": "2024-01-01", "$lt": "2025"}})


def test_postgres_sql_carries_every_value_and_key_as_a_parameter() -> None:
    hostile = "x'); DROP TABLE docs; --"
    sql, params = to_pg_sql(
        parse({"source": hostile, "n": {"$gt": 3}, "tag": {"$lt": hostile}, "k": {"$in": [1]}})
    )
    assert hostile not in sql and "DROP" not in sql and "source" not in sql
    assert sql.count("%s") == len(params)
    assert '{"source": "x\'); DROP TABLE docs; --"}' in params
    assert hostile in params and "tag" in params
    assert to_pg_sql(None) == ("TRUE", [])


def test_lance_sql_quotes_values_and_keeps_types_apart() -> None:
    sql = to_lance_sql(parse({"lang": "it's", "n": {"$in": [2, True]}}))
    assert sql is not None
    assert "'\"it''s\"'" in sql  # a JSON string literal, quote doubled for SQL
    assert "try_cast(json_extract(metadata, '$[\"n\"]') AS DOUBLE) = 2" in sql
    assert "json_extract(metadata, '$[\"n\"]') = 'true'" in sql
    assert to_lance_sql(None) is None

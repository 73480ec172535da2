"""Each built-in transform function, called as a `transform` step calls it.

``apply_function(name, inputs, params)`` is what a step ``{type: transform,
function: NAME, inputs: ..., params: ...}`` runs, so these are the outputs a
workflow author gets. Inputs wrapped in a one-item list are the original
format's way of passing a single value; functions of one value accept both.
"""

from __future__ import annotations

from typing import Any

import pytest

from interpreter.errors import StepError
from interpreter.transforms import FUNCTIONS, apply_function

HITS = [
    {"id": "a", "score": 0.9, "metadata": {"source": "faq.md", "lang": "en"}},
    {"id": "b", "score": 0.4, "metadata": {"source": "blog.md", "lang": "fr"}},
    {"id": "c", "score": 0.7, "metadata": {"source": "faq.md", "lang": "fr"}},
]


def test_the_table_holds_exactly_the_documented_functions() -> None:
    # a function added or dropped must show up here, and be tested below
    assert sorted(FUNCTIONS) == sorted(
        [
            "identity", "merge", "concat", "filter", "pick", "extract_metadata",
            "json_parse", "json_stringify", "split", "join", "first", "last",
            "length", "upper", "lower", "trim", "flatten", "unique", "sort",
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "inputs", "params", "expected"),
    [
        # identity: the value itself, unwrapped from a one-item list
        ("identity", {"a": 1}, {}, {"a": 1}),
        ("identity", [{"a": 1}], {}, {"a": 1}),
        ("identity", [1, 2], {}, [1, 2]),
        # merge: mappings merge (later keys win), lists chain, anything else joins by lines
        ("merge", [{"a": 1, "b": 1}, {"b": 2}], {}, {"a": 1, "b": 2}),
        ("merge", [[1, 2], [3]], {}, [1, 2, 3]),
        ("merge", ["one", "two", None], {}, "one\ntwo\n"),
        ("merge", ["one", "two"], {"separator": " | "}, "one | two"),
        # concat: lists chain, anything else joins with no separator by default
        ("concat", [[1], [2, 3]], {}, [1, 2, 3]),
        ("concat", ["ab", "cd", 5], {}, "abcd5"),
        ("concat", ["ab", "cd"], {"separator": "-"}, "ab-cd"),
        # filter: rows whose fields match, by key/value or by a `where` condition
        ("filter", HITS, {"key": "id", "value": "b"}, [HITS[1]]),
        ("filter", [HITS], {"where": {"id": {"$in": ["a", "c"]}}}, [HITS[0], HITS[2]]),
        ("filter", HITS, {"where": {"score": {"$gte": 0.7}}}, [HITS[0], HITS[2]]),
        ("filter", [*HITS, "not a row"], {"key": "id", "value": "zzz"}, []),
        # pick: chosen fields (dotted paths reach into nested mappings; missing ones are None)
        ("pick", HITS, {"fields": ["id", "metadata.source"]},
         [{"id": "a", "metadata.source": "faq.md"}, {"id": "b", "metadata.source": "blog.md"},
          {"id": "c", "metadata.source": "faq.md"}]),
        ("pick", {"id": "a", "x": 1}, {"keys": "id"}, {"id": "a"}),
        ("pick", {"id": "a"}, {"fields": ["nope"]}, {"nope": None}),
        # extract_metadata: each row's metadata, or the named fields of it
        ("extract_metadata", HITS, {"fields": ["source"]},
         [{"source": "faq.md"}, {"source": "blog.md"}, {"source": "faq.md"}]),
        ("extract_metadata", [[{"metadata": {"k": 1}}, {"id": "no metadata"}]], {},
         [{"k": 1}, {}]),
        # json_parse: text to data, also inside a ``` fence; data passes through
        ("json_parse", '{"label": "safe", "n": [1, 2]}', {}, {"label": "safe", "n": [1, 2]}),
        ("json_parse", ['```json\n{"ok": true}\n```'], {}, {"ok": True}),
        ("json_parse", {"already": "data"}, {}, {"already": "data"}),
        # json_stringify: data to JSON text, non-ASCII kept, indent on request
        ("json_stringify", {"name": "Zoë"}, {}, '{"name": "Zoë"}'),
        ("json_stringify", [{"a": 1}], {"indent": 2}, '{\n  "a": 1\n}'),
        # split: text to trimmed, non-empty parts (both configurable)
        ("split", "a\n b \n\nc", {}, ["a", "b", "c"]),
        ("split", "a, b,,c", {"separator": ","}, ["a", "b", "c"]),
        ("split", "a, b,,c", {"separator": ",", "strip": False, "drop_empty": False},
         ["a", " b", "", "c"]),
        # join: items to text, one per line by default
        ("join", ["a", 1, None], {}, "a\n1\nNone"),
        ("join", [["x", "y"]], {"separator": ", "}, "x, y"),
        # first / last: an end of the list, None when empty, a lone value is its own end
        ("first", [[3, 4, 5]], {}, 3),
        ("last", [3, 4, 5], {}, 5),
        ("first", [], {}, None),
        ("last", "solo", {}, "solo"),
        # length: of a list, string or mapping; None counts 0
        ("length", [["a", "b", "c"]], {}, 3),
        ("length", "four", {}, 4),
        ("length", None, {}, 0),
        # upper / lower / trim: on the text of the value
        ("upper", "MiXed ß", {}, "MIXED SS"),
        ("lower", ["MiXed"], {}, "mixed"),
        ("trim", "  padded\n", {}, "padded"),
        ("upper", 42, {}, "42"),
        # flatten: one level of nesting removed, lone values kept
        ("flatten", [[[1, 2], 3, [4, [5]]]], {}, [1, 2, 3, 4, [5]]),
        # unique: first occurrences, in order, of any values (also unhashable ones)
        ("unique", [["b", "a", "b", "c", "a"]], {}, ["b", "a", "c"]),
        ("unique", [[{"k": 1}, {"k": 1}, {"k": 2}]], {}, [{"k": 1}, {"k": 2}]),
        # sort: by value, or by a (dotted) key, reversed on request
        ("sort", [[3, 1, 2]], {}, [1, 2, 3]),
        ("sort", HITS, {"key": "score", "reverse": True}, [HITS[0], HITS[2], HITS[1]]),
        ("sort", HITS, {"key": "metadata.source"}, [HITS[1], HITS[0], HITS[2]]),
    ],
)  # fmt: skip
def test_output(name: str, inputs: Any, params: dict[str, Any], expected: Any) -> None:
    assert apply_function(name, inputs, params) == expected


def test_sort_and_merge_leave_the_values_they_were_given_unchanged() -> None:
    # step inputs can be another step's output, which later steps read again
    numbers = [3, 1, 2]
    first, second = {"a": 1}, {"b": 2}
    assert apply_function("sort", numbers, {}) == [1, 2, 3]
    assert apply_function("merge", [first, second], {}) == {"a": 1, "b": 2}
    assert numbers == [3, 1, 2]
    assert (first, second) == ({"a": 1}, {"b": 2})


@pytest.mark.parametrize(
    ("name", "inputs", "params", "message"),
    [
        ("no_such_function", 1, {}, "unknown transform function `no_such_function`"),
        ("filter", HITS, {}, "`filter` needs `key` and `value`, or `where: {field: value}`"),
        ("pick", HITS, {}, "`pick` needs `fields: [name, ...]`"),
        ("split", 123, {}, "`split` needs a string"),
        ("json_parse", '{"a": 1,,}', {}, "json_parse: not valid JSON at line 1 column 9"),
        # errors inside a function become the step's error, not a crash of the worker
        ("sort", [[1, "a"]], {}, "`sort` could not process its inputs: '<' not supported"),
        ("length", 5, {}, "`length` could not process its inputs"),
    ],
)
def test_bad_inputs_are_step_errors_that_say_what_to_fix(
    name: str, inputs: Any, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(StepError) as caught:
        apply_function(name, inputs, params)
    assert message in str(caught.value)

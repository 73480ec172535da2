"""Parsing with positions: where values are, duplicate keys, depth, merge keys, encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interpreter import source
from interpreter.errors import WorkflowDefinitionError
from interpreter.source import MAX_DEPTH, decode, key_position, parse, position

ROOT = Path(__file__).parents[2]

TEXT = """\
name: positions
steps:
  - id: first
    type: llm
    prompt: "hello"
  - id: second
    type: action
    action: log
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(WorkflowDefinitionError) as caught:
        parse(text, "f.yaml")
    return [p.format() for p in caught.value.problems]


def test_values_and_keys_remember_line_and_column() -> None:
    doc = parse(TEXT)
    assert position(doc, ("steps", 0, "prompt")) == (5, 13)
    assert key_position(doc, ("steps", 1, "action")) == (8, 5)
    assert position(doc, ("steps", 1)) == (6, 5)


def test_position_falls_back_to_the_deepest_known_node() -> None:
    doc = parse(TEXT)
    # `retry` is not in the file: point at the step that should have it
    assert position(doc, ("steps", 1, "retry", "max_attempts")) == (6, 5)


def test_parsed_data_equals_what_yaml_safe_load_gives() -> None:
    assert parse(TEXT) == yaml.safe_load(TEXT)


def test_json_is_accepted_with_positions() -> None:
    doc = parse('{\n  "name": "j",\n  "steps": [{"id": "a", "type": "action", "action": "log"}]\n}')
    assert doc["steps"][0]["id"] == "a"
    assert position(doc, ("steps", 0, "action")) == (3, 53)


def test_duplicate_keys_are_errors_at_the_second_key() -> None:
    problems = _problems("name: a\nsteps: []\nname: b\n")
    assert problems == [
        "f.yaml:3:1: duplicate key `name` (first defined at line 1) "
        "(hint: keep one of them; YAML would silently use the last)"
    ]


def test_every_duplicate_key_is_reported() -> None:
    problems = _problems("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [p.split(": duplicate")[0] for p in problems] == ["f.yaml:2:1", "f.yaml:5:3"]


def test_merge_keys_are_resolved_and_can_be_overridden() -> None:
    text = """\
llm_defaults: &llm
  type: llm
  model: gpt-4o-mini
  temperature: 0
steps:
  - <<: *llm
    id: cheap
    prompt: hi
  - <<: *llm
    id: strong
    model: gpt-4o
    prompt: hi
"""
    doc = parse(text)
    assert doc["steps"][0]["model"] == "gpt-4o-mini"
    assert doc["steps"][1]["model"] == "gpt-4o"
    assert doc == yaml.safe_load(text)
    # the overriding value is located where it is written, not at the anchor
    assert position(doc, ("steps", 1, "model")) == (11, 12)


def test_repeated_key_next_to_a_merge_is_still_a_duplicate() -> None:
    text = "base: &b {x: 1}\nthing:\n  <<: *b\n  y: 1\n  y: 2\n"
    assert _problems(text)[0].startswith("f.yaml:5:3: duplicate key `y`")


def test_nesting_is_limited() -> None:
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    parse(ok)
    too_deep = "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    assert _problems(too_deep) == [
        f"f.yaml:1:{3 + MAX_DEPTH}: nesting deeper than {MAX_DEPTH} levels "
        "(hint: flatten the structure; deep nesting is almost always a mistake)"
    ]


def test_comment_only_file_is_empty() -> None:
    assert _problems("# nothing here\n\n")[0].startswith("f.yaml:1:1: file is empty")


def test_dates_and_binary_keep_the_text_written() -> None:
    doc = parse("released: 2024-01-31\nblob: !!binary aGk=\n")
    assert doc == {"released": "2024-01-31", "blob": "aGk="}


def test_boolean_keys_become_text() -> None:
    # YAML 1.1 reads an unquoted `yes:`/`true:` key as a boolean; a case name is text
    assert list(parse("true: a\nno: b\n")) == ["true", "false"]


def test_decode_strips_a_byte_order_mark() -> None:
    assert decode("\ufeffname: x\n".encode(), "f.yaml") == "name: x\n"


def test_decode_locates_the_first_invalid_byte() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        decode(b"name: ok\nsteps:\n  - id: \xff\xfe\n", "f.yaml")
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (3, 9)
    assert problem.message == "file is not valid UTF-8 (byte 0xff)"


def _snapshot(text: str) -> object:
    """Data plus every recorded position, or the problems raised."""

    def walk(node: object) -> object:
        if isinstance(node, dict):
            return {k: (walk(v), node.pos[k], node.key_pos[k]) for k, v in node.items()}
        if isinstance(node, list):
            return [(walk(v), p) for v, p in zip(node, node.pos, strict=True)]
        return node

    try:
        return walk(parse(text, "f.yaml"))
    except WorkflowDefinitionError as exc:
        return [p.format() for p in exc.problems]


@pytest.mark.parametrize(
    "text",
    [
        *(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("examples/*.yaml"))),
        *(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("tests/fixtures/original/*"))),
        TEXT,
        "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        "name: x\nsteps:\n\t- id: a\n",
        "a: {b: 1\n",
        "name: café ☕\nsteps: [{id: é, prompt: 'naïve “quotes” 🎉', n: 1}]\n",
        "base: &b {x: 1}\nthing:\n  <<: *b\n  x: 2\n  y: 1\n  y: 2\n",
    ],
)
def test_libyaml_and_pure_python_parsers_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _snapshot(text)
    monkeypatch.setattr(source, "_CLoader", None)
    assert _snapshot(text) == fast

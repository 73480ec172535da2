"""The exported JSON Schema is valid and agrees with the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from interpreter.schema import json_schema

ROOT = Path(__file__).parents[2]
FILES = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "fixtures" / "original").glob("*.yaml")
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_declares_draft_2020_12_and_is_json() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(json.dumps(schema)) == schema


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_accepts_every_example_and_original_file(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"steps": [{"id": "a", "type": "action", "action": "log"}]}, "'name' is a required"),
        ({"name": "x", "steps": [{"id": "a", "type": "llmm", "prompt": "hi"}]}, ""),
        (
            {
                "name": "x",
                "steps": [{"id": "a", "type": "llm", "prompt": "hi", "max_tokens": "many"}],
            },
            "",
        ),
        (
            {"name": "x", "steps": [{"id": "a", "type": "action", "action": "log", "timeout": -3}]},
            "",
        ),
        ({"name": "x", "steps": []}, ""),
        (
            {"name": "x", "steps": [{"id": "a", "type": "embed", "input": "hi", "dependson": []}]},
            "",
        ),
        ({"name": "x", "stepz": []}, ""),
    ],
    ids=["no-name", "bad-type", "wrong-type", "negative-timeout", "no-steps", "typo", "top-typo"],
)
def test_schema_rejects_bad_documents(
    validator: jsonschema.Draft202012Validator, document: dict, complaint: str
) -> None:
    errors = list(validator.iter_errors(document))
    assert errors
    assert any(complaint in e.message for e in errors)


def test_durations_in_the_schema_match_the_language() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    for ok in ("30s", "1h30m", "250ms", 5, "45"):
        doc = {"name": "x", "timeout": ok, "steps": [{"id": "a", "type": "action", "action": "l"}]}
        assert validator.is_valid(doc), ok
    doc = {
        "name": "x",
        "timeout": "5 minutes",
        "steps": [{"id": "a", "type": "action", "action": "l"}],
    }
    assert not validator.is_valid(doc)

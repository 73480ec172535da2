"""Every bad input gets one located, actionable error, through the loader and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_file, load_text
from llm_orchestrator.cli import main

INVALID = Path(__file__).parents[1] / "fixtures" / "invalid"
EXPECTED: dict[str, dict[str, object]] = yaml.safe_load(
    (INVALID / "expected.yaml").read_text(encoding="utf-8")
)


def _first_problem(path: Path):
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_file(path)
    return caught.value.problems[0]


def _validate(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str]:
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def test_every_fixture_has_an_expectation() -> None:
    files = {p.name for p in INVALID.glob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_reported_at_its_location(name: str) -> None:
    expected = EXPECTED[name]
    problem = _first_problem(INVALID / name)
    assert (problem.line, problem.column) == (expected["line"], expected["column"])
    assert expected["message"] in problem.message
    if "hint" in expected:
        assert expected["hint"] in (problem.hint or "")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_command_exits_1_with_location(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = EXPECTED[name]
    path = INVALID / name
    code, err = _validate(capsys, path)
    assert code == 1
    assert f"{path}:{expected['line']}:{expected['column']}: " in err


def test_thousand_deep_nesting_is_refused_at_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one nested parallel group per line, JSON flow style: {"id": "g0", ... "steps": [
    depth = 1000
    lines = ['{"name": "deep", "steps": [']
    lines += [f'{{"id": "g{i}", "type": "parallel", "steps": [' for i in range(depth)]
    lines.append('{"id": "leaf", "type": "action", "action": "log"}')
    lines += ["]}"] * depth
    lines.append("]}")
    path = tmp_path / "deep.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")

    problem = _first_problem(path)
    assert problem.message == "nesting deeper than 64 levels"
    # root mapping, steps list, then a mapping and a list per group: level 65 is g31
    assert (problem.line, problem.column) == (33, 1)
    code, err = _validate(capsys, path)
    assert code == 1
    assert f"{path}:33:1: nesting deeper than 64 levels" in err


def test_deep_flow_sequence_is_refused() -> None:
    text = "name: deep\nsteps:\n  - id: a\n    type: action\n    action: log\n    params:\n"
    text += "      x: " + "[" * 1000 + "]" * 1000 + "\n"
    with pytest.raises(WorkflowDefinitionError, match="nesting deeper than 64 levels"):
        load_text(text)


def test_ten_megabyte_file_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.yaml"
    blob = "x" * (10 * 1024 * 1024)
    path.write_text(f"name: huge\ndescription: {blob}\nsteps: []\n", encoding="utf-8")

    problem = _first_problem(path)
    assert (problem.line, problem.column) == (1, 1)
    assert "file is 10.5 MB; workflow files are limited to 5 MB" in problem.message
    code, err = _validate(capsys, path)
    assert code == 1
    assert f"{path}:1:1: file is 10.5 MB" in err


def test_problems_in_different_steps_are_reported_together() -> None:
    text = """\
name: several
steps:
  - id: answer
    type: llm
    prompt: hi
    max_tokens: many
  - id: report
    type: action
    action: log
    depends_on: [answr]
  - id: notify
    type: action
    action: log
    dependson: [report]
"""
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_text(text, "several.yaml")
    assert [p.format().split(" (hint")[0] for p in caught.value.problems] == [
        "several.yaml:6:17: step `answer`, field `max_tokens`: Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')",
        "several.yaml:10:18: step `report` depends on unknown step `answr`",
        "several.yaml:14:5: step `notify`: unknown field `dependson`",
    ]

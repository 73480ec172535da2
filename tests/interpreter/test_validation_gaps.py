"""Inputs that used to validate and then hang, change silently or crash: each is a located error."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.problems import load_problems

LLM = "  - id: a\n    type: llm\n    prompt: hi\n"


def _problems(text: str) -> list[str]:
    return load_problems(text)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".inf", "too long"),
        (".nan", "cannot be NaN"),
        ("1" + "0" * 400, "too long"),
        ("99999999999999d", "too long"),
    ],
)
def test_absurd_timeouts_are_refused_where_they_are_written(value: str, message: str) -> None:
    (problem,) = _problems(f"name: t\nsteps:\n{LLM}    timeout: {value}\n")
    assert problem.startswith("w.yaml:6:14: ")
    assert message in problem


def test_max_interval_shorter_than_initial_interval() -> None:
    text = f"name: r\nsteps:\n{LLM}    retry: {{initial_interval: 10s, max_interval: 1s}}\n"
    (problem,) = _problems(text)
    assert problem.startswith("w.yaml:6:12: ")
    assert "max_interval (1s) is shorter than initial_interval (10s)" in problem


def test_unknown_filters_and_tests_are_reported_with_a_hint() -> None:
    text = (
        "name: f\nsteps:\n  - id: a\n    type: llm\n"
        '    prompt: "{{ inputs.x | uper }} {% if inputs.x is evn %}y{% endif %}"\n'
    )
    problems = _problems(text)
    assert any("unknown filter `uper`" in p and "did you mean `upper`?" in p for p in problems)
    assert any("unknown test `evn`" in p and "did you mean `even`?" in p for p in problems)
    assert all(p.startswith("w.yaml:5:13: ") for p in problems)


def test_an_input_the_file_does_not_declare() -> None:
    text = "name: i\ninputs:\n  question: {type: string}\nsteps:\n  - id: a\n    type: llm\n"
    text += '    prompt: "{{ inputs.questoin }}"\n'
    (problem,) = _problems(text)
    assert problem.startswith("w.yaml:7:13: ")
    assert "reads input `questoin`" in problem and "did you mean `question`?" in problem


def test_an_input_default_of_the_wrong_type() -> None:
    (problem,) = _problems(f"name: d\ninputs:\n  n: {{type: integer, default: ten}}\nsteps:\n{LLM}")
    assert problem.startswith("w.yaml:3:6: ")
    assert "default 'ten' is not an integer" in problem


def test_an_invalid_json_schema_in_response_format() -> None:
    text = f"name: j\nsteps:\n{LLM}    response_format: {{schema: {{type: 12}}}}\n"
    (problem,) = _problems(text)
    assert problem.startswith("w.yaml:6:31: ")
    assert "not a valid JSON Schema at type" in problem


def test_a_step_field_nobody_produces_is_an_error_before_any_model_call() -> None:
    text = (
        "name: u\nsteps:\n  - id: reply\n    type: llm\n    prompt: hi\n    output: [text]\n"
        'outputs:\n  cost: "{{ steps.reply.usage }}"\n  ok: "{{ steps.reply.text }}"\n'
    )
    (problem,) = _problems(text)
    assert problem.startswith("w.yaml:8:9: workflow outputs: template reads `steps.reply.usage`")
    assert "`output`, `status`, `text`" in problem


def test_duplicate_output_names_in_one_step() -> None:
    (problem,) = _problems(f"name: o\nsteps:\n{LLM}    output: [a, a]\n")
    assert "output name `a` is listed twice" in problem
    assert problem.startswith("w.yaml:6:17: ")


@pytest.mark.parametrize(
    ("text", "located", "message"),
    [
        ("name: x\nsteps:\n  - !!python/object:os.system ls\n", "3:5", "YAML tags are not allowed"),
        (
            "name: x\nsteps: !include other.yaml\n",
            "2:8",
            "YAML tags are not allowed here (`!include`)",
        ),
        ("name: x\x00\nsteps: []\n", "1:8", "character U+0000 is not allowed"),
        ("name: x\nsteps:\n  - <<: 5\n    id: a\n", "3:9", "expected a mapping"),
    ],
)
def test_tags_nul_and_bad_merges_are_located(text: str, located: str, message: str) -> None:
    problems = _problems(text)
    assert problems[0].startswith(f"w.yaml:{located}: "), problems
    assert message in problems[0]


LAUGHS = (
    "name: lol\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(
        f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "steps: *i\n"
)


def test_billion_laughs_is_refused_quickly_and_within_memory(tmp_path: Path) -> None:
    assert len(LAUGHS.encode()) < 700
    path = tmp_path / "lol.yaml"
    path.write_text(LAUGHS)
    # the CPU time the `validate` process used, not wall-clock: a busy machine stretches the
    # second, not the work (an expansion that were not refused would run into the memory limit)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-m", "llm_orchestrator.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 10
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{path}:2:4: the document expands to more than 1,000,000 values" in (
        result.stdout + result.stderr
    )

"""The language commands of the CLI: validate, schema, graph (run in-process)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from llm_orchestrator.cli import build_parser, main

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
ORIGINAL = sorted(str(p) for p in (ROOT / "tests" / "fixtures" / "original").glob("*.yaml"))
INVALID = ROOT / "tests" / "fixtures" / "invalid"
CLI = [sys.executable, "-m", "llm_orchestrator.cli"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_validate_all_examples_and_original_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "validate", *EXAMPLES, *ORIGINAL)
    assert code == 0
    assert err == ""
    assert out.count(": ok (") == len(EXAMPLES) + len(ORIGINAL)
    assert f"{ROOT / 'examples' / 'rag-pipeline.yaml'}: ok (rag-pipeline v1.0, 4 steps)" in out


def test_one_invalid_file_fails_the_run_but_all_are_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = str(INVALID / "cycle.yaml")
    code, out, err = _run(capsys, "validate", bad, EXAMPLES[0])
    assert code == 1
    assert f"{bad}:7:17: dependency cycle: draft → review → revise → draft" in err
    assert f"{EXAMPLES[0]}: ok" in out


def test_missing_file_and_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "validate", str(tmp_path / "nope.yaml"), str(tmp_path))
    assert code == 1
    assert f"{tmp_path / 'nope.yaml'}: file not found" in err
    assert f"{tmp_path}: is a directory, not a workflow file" in err


def test_validate_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(INVALID / "depends-on-unknown.yaml")
    code, out, err = _run(capsys, "validate", "--json", EXAMPLES[0], bad)
    assert code == 1
    assert err == ""
    report = json.loads(out)
    assert report["valid"] is False
    good, failed = report["files"]
    assert good == {
        "file": EXAMPLES[0], "valid": True, "problems": [], "warnings": [], "name": good["name"]
    }  # fmt: skip
    assert failed["file"] == bad and failed["valid"] is False
    assert failed["problems"] == [
        {
            "path": bad,
            "line": 9,
            "column": 18,
            "message": "step `report` depends on unknown step `clasify`",
            "hint": "did you mean `classify`?",
            "where": "steps.1.depends_on.0",
        }
    ]


def test_validate_json_all_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "validate", "--json", *EXAMPLES)
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True
    assert [f["file"] for f in report["files"]] == EXAMPLES


def test_schema_prints_a_json_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    target = tmp_path / "workflow.schema.json"
    assert _run(capsys, "schema", "-o", str(target))[0] == 0
    assert json.loads(target.read_text(encoding="utf-8")) == schema


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "mermaid",
            ["flowchart TD", '  pick_path -- "urgent" --> page_oncall', "  summarise --> audit"],
        ),
        ("dot", ['digraph "support-triage" {', '  "summarise" -> "audit";']),
    ],
)
def test_graph_formats(capsys: pytest.CaptureFixture[str], fmt: str, expected: list[str]) -> None:
    code, out, _ = _run(capsys, "graph", str(ROOT / "examples" / "support-triage.yaml"),
                        "--format", fmt)  # fmt: skip
    assert code == 0
    for line in expected:
        assert line in out.splitlines()


def test_graph_of_an_invalid_file_reports_it(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(INVALID / "self-dependency.yaml")
    code, out, err = _run(capsys, "graph", bad)
    assert (code, out) == (1, "")
    assert f"{bad}:8:9: step `loop` depends on itself" in err


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["graph", EXAMPLES[0], "--format", "png"])
    assert caught.value.code == 2
    assert "invalid choice: 'png'" in capsys.readouterr().err


def test_graph_dot_labels_break_lines_for_graphviz(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "graph", str(ROOT / "examples" / "support-triage.yaml"),
                        "--format", "dot")  # fmt: skip
    assert code == 0
    # `\n` inside a dot string is a line break; `\\n` would draw a literal backslash-n
    assert '  "assess" [label="assess\\nllm openai/gpt-4o-mini"];' in out.splitlines()
    assert "\\\\n" not in out


@pytest.mark.parametrize("command", [["schema"], ["graph", EXAMPLES[0]], ["validate", *EXAMPLES]])
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(
    command: list[str], tmp_path: Path
) -> None:
    # `true` exits without reading: the first write meets a closed pipe, as with `| head`
    script = f"{shlex.join(CLI + command)} | true; echo ${{PIPESTATUS[0]}}"
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.stderr == ""
    assert result.stdout.strip() == "141"  # 128 + SIGPIPE, as a C tool would end


def test_string_inputs_keep_key_value_as_text() -> None:
    from interpreter.models import InputSpec, InputType
    from llm_orchestrator.request import parse_inputs

    declared = {"text": InputSpec(type=InputType.STRING), "n": InputSpec(type=InputType.NUMBER)}
    assert parse_inputs(("text=5", "n=5", "other=[1, 2]", "word=hello"), declared) == {
        "text": "5", "n": 5, "other": [1, 2], "word": "hello"
    }  # fmt: skip
    assert parse_inputs(("text=true",), declared) == {"text": "true"}
    # a catalog name: no declarations to go by, so JSON when it parses
    assert parse_inputs(("text=5", 'quoted="5"'), {}) == {"text": 5, "quoted": "5"}


def test_run_with_a_number_like_string_input_validates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--input text=5` for a `string` input is accepted (checked before any server is needed)."""
    code, _, err = _run(capsys, "start", str(ROOT / "examples" / "sentiment-analysis.yaml"),
                        "--input", "text=5", "--address", "127.0.0.1:9")  # fmt: skip
    assert "must be a string" not in err
    assert code == 3 and "cannot connect to Temporal at 127.0.0.1:9" in err


def test_worker_outside_a_checkout_says_the_catalog_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_ORCHESTRATOR_")}
    env["PYTHONPATH"] = str(ROOT)
    for argv, shown in (
        (["worker", "--address", "127.0.0.1:9"], "./examples"),
        (["worker", "--catalog", str(tmp_path / "flows"), "--address", "127.0.0.1:9"],
         str(tmp_path / "flows")),
        (["run", "sentiment-analysis", "--address", "127.0.0.1:9"], "./examples"),
    ):  # fmt: skip
        result = subprocess.run(
            [*CLI, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 3, result.stderr
        assert result.stderr.strip() == (
            f"error: catalog directory {shown} does not exist; pass --catalog DIR (a directory "
            "of workflow files) or set LLM_ORCHESTRATOR_CATALOG"
        )


# --- referenced workflows and warnings ------------------------------------------------------


def test_validate_reports_a_missing_child_workflow_located(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "name: parent\nsteps:\n  - id: kid\n    type: workflow\n    workflow: child.yaml\n",
        encoding="utf-8",
    )
    code, out, err = _run(capsys, "validate", str(parent))
    assert code == 1
    assert out == ""
    assert err.startswith(f"{parent}:5:15: step `kid`: no file `child.yaml` next to this one")


def test_validate_prints_warnings_after_ok_and_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = tmp_path / "route.yaml"
    flow.write_text(
        "name: route\nsteps:\n"
        "  - id: ask\n    type: llm\n    model: gpt-4o-mini\n    prompt: hi\n"
        "  - id: pick\n    type: branch\n    depends_on: [ask]\n    condition: steps.ask.output\n"
        "    branches:\n      yes:\n        - id: say\n          type: action\n"
        "          action: log\n          params: {message: yes}\n",
        encoding="utf-8",
    )
    code, out, err = _run(capsys, "validate", str(flow))
    assert code == 0, err
    assert out.startswith(f"{flow}: ok (route")
    assert err.startswith(f"warning: {flow}:10:16: branch `pick` decides on the reply of model")


# --- CLI conventions ------------------------------------------------------------------------


def _actions(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, child in action.choices.items():
                found += _actions(child, f"{name} {command}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((name, action))
    return found


def test_every_option_and_argument_has_help_text() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, action in _actions(build_parser(), "llm-orchestrator")
        if not action.help
    ]
    assert missing == []


def test_version_module_entry_point_and_shell_completion() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    version = subprocess.run([sys.executable, "-m", "llm_orchestrator", "--version"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("llm-orchestrator ")
    completion = subprocess.run(
        [sys.executable, "-m", "llm_orchestrator", "--print-completion", "bash"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completion.returncode == 0, completion.stderr
    assert "complete" in completion.stdout and "--mock" in completion.stdout
    assert "approve" in completion.stdout


def test_run_names_a_provider_its_worker_does_not_have_before_starting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run`'s in-process worker is the one that would run the file: an unknown provider of
    a step or a fallback entry is a located error, and nothing starts (no server needed)."""
    monkeypatch.delenv("LLM_ORCHESTRATOR_CONFIG", raising=False)
    workflow = tmp_path / "providers.yaml"
    workflow.write_text(
        "name: providers\n"
        "steps:\n"
        "  - id: ask\n"
        "    type: llm\n"
        "    provider: openai\n"
        "    prompt: hi\n"
        "    fallback:\n"
        "      - {provider: nowhere, model: x}\n"
    )
    code, _out, err = _run(capsys, "run", str(workflow), "--address", "127.0.0.1:1")
    assert code == 1
    assert f"{workflow}:8:20: step `ask`, fallback 1: provider `nowhere` is not configured" in err
    assert "configured: anthropic, " in err and "--offline" in err

"""The commands about workflow files, which need no server: validate, schema, graph."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from interpreter.dag import Dag
from interpreter.diagram import to_dot, to_mermaid
from interpreter.errors import WorkflowDefinitionError
from interpreter.library import load_with_library
from interpreter.lint import lint
from interpreter.loader import load_file
from interpreter.schema import json_schema
from interpreter.source import parse
from llm_orchestrator.exits import ExitCode

__all__ = ["graph", "schema", "validate"]


def validate(files: Sequence[str], *, json_output: bool) -> int:
    """Check every file and the workflows it names, report every problem; exit 1 if any
    file is invalid. Warnings (``interpreter.lint``) follow a file's `ok` and keep exit 0."""
    results = []
    failed = False
    for name in files:
        try:
            definition, _library = load_with_library(name)
        except WorkflowDefinitionError as exc:
            failed = True
            results.append(
                {"file": name, "valid": False, "problems": [p.as_dict() for p in exc.problems]}
            )
            if not json_output:
                for problem in exc.problems:
                    print(problem.format(), file=sys.stderr)
        else:
            warnings = lint(definition, parse(Path(name).read_text(encoding="utf-8"), name), name)
            results.append(
                {
                    "file": name,
                    "valid": True,
                    "problems": [],
                    "warnings": [w.as_dict() for w in warnings],
                    "name": definition.name,
                }
            )
            if not json_output:
                steps = len(Dag.build(definition).nodes)
                print(f"{name}: ok ({definition.name} v{definition.version}, {steps} steps)")
                for warning in warnings:
                    print(f"warning: {warning.format()}", file=sys.stderr)
    if json_output:
        print(json.dumps({"valid": not failed, "files": results}, indent=2))
    return ExitCode.FAILED if failed else ExitCode.OK


def schema(output: str | None) -> int:
    """The JSON Schema of the workflow language, to stdout or a file."""
    text = json.dumps(json_schema(), indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return ExitCode.OK


def graph(file: str, *, fmt: str) -> int:
    """The workflow's DAG as Mermaid or Graphviz dot."""
    definition = load_file(file)
    print(to_mermaid(definition) if fmt == "mermaid" else to_dot(definition), end="")
    return ExitCode.OK

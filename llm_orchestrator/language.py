"""The commands about workflow files, which need no server: validate, estimate, schema, graph."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpreter.dag import Dag
from interpreter.diagram import to_dot, to_mermaid
from interpreter.errors import WorkflowDefinitionError
from interpreter.library import load_with_library
from interpreter.lint import lint
from interpreter.loader import load_file
from interpreter.schema import json_schema
from interpreter.source import parse
from llm_orchestrator.exits import ExitCode
from llm_orchestrator.options import EstimateOptions

if TYPE_CHECKING:
    from interpreter.models import WorkflowDefinition

__all__ = ["estimate", "graph", "schema", "validate"]


def validate(
    files: Sequence[str], *, json_output: bool, estimate: EstimateOptions | None = None
) -> int:
    """Check every file and the workflows it names, report every problem; exit 1 if any
    file is invalid. Warnings (``interpreter.lint``) follow a file's `ok` and keep exit 0.
    With ``estimate``, each valid file's worst case follows (see :func:`estimate`)."""
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
            if estimate is not None:
                worst = _estimate(definition, _library, estimate)
                if json_output:
                    results[-1]["estimate"] = worst
                else:
                    print(worst, end="")
    if json_output:
        print(json.dumps({"valid": not failed, "files": results}, indent=2))
    return ExitCode.FAILED if failed else ExitCode.OK


def estimate(file: str, opts: EstimateOptions) -> int:
    """Print a run's worst-case tokens and dollars per step, and the total, as a table
    (or JSON); nothing runs. ``llm_orchestrator.estimate`` says what is assumed."""
    definition, library = load_with_library(file)
    worst = _estimate(definition, library, opts)
    print(json.dumps(worst, indent=2) if opts.json else worst, end="\n" if opts.json else "")
    return ExitCode.OK


def _estimate(
    definition: WorkflowDefinition,
    library: Mapping[str, Mapping[str, Any]],
    opts: EstimateOptions,
) -> Any:
    """The estimate as a table (text) or, with ``opts.json``, as data."""
    # imported here: the price table and the token rule live with the activities, and
    # input checking needs Temporal's modules; `validate` alone needs neither
    from activities.providers.config import load_worker_config
    from interpreter.errors import InputError
    from interpreter.inputs import resolve_inputs
    from llm_orchestrator import estimate as estimator
    from llm_orchestrator.request import parse_inputs

    given = parse_inputs(opts.inputs, definition.inputs)
    try:
        inputs = resolve_inputs(definition, given)
    except InputError as exc:  # still worth an estimate: templates reading them count as text
        print(f"note: inputs incomplete ({exc}); prompts that read them are counted as text",
              file=sys.stderr)  # fmt: skip
        defaults = {k: s.default for k, s in definition.inputs.items() if s.default is not None}
        inputs = {**defaults, **given}
    result = estimator.estimate(
        definition,
        inputs,
        price=load_worker_config(opts.config).price,
        library=library,
        offline=opts.offline,
    )
    return result.as_dict() if opts.json else estimator.format_table(result)


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

"""The thin command line: parse arguments, validate, start runs, report.

It never executes a step itself; runs happen on Temporal through workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from interpreter.diagram import to_dot, to_mermaid
from interpreter.errors import OrchestratorError, WorkflowDefinitionError
from interpreter.loader import load_file
from interpreter.schema import json_schema

__all__ = ["main"]


def _cmd_validate(args: argparse.Namespace) -> int:
    results = []
    failed = False
    for name in args.files:
        try:
            definition = load_file(name)
        except WorkflowDefinitionError as exc:
            failed = True
            results.append(
                {"file": name, "valid": False, "problems": [p.as_dict() for p in exc.problems]}
            )
            if not args.json:
                for problem in exc.problems:
                    print(problem.format(), file=sys.stderr)
        else:
            results.append({"file": name, "valid": True, "problems": [], "name": definition.name})
            if not args.json:
                print(
                    f"{name}: ok ({definition.name} v{definition.version}, "
                    f"{_count_steps(definition)} steps)"
                )
    if args.json:
        print(json.dumps({"valid": not failed, "files": results}, indent=2))
    return 1 if failed else 0


def _count_steps(definition: object) -> int:
    from interpreter.dag import Dag
    from interpreter.models import WorkflowDefinition

    assert isinstance(definition, WorkflowDefinition)
    return len(Dag.build(definition).nodes)


def _cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(json_schema(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    definition = load_file(args.file)
    print(to_mermaid(definition) if args.format == "mermaid" else to_dot(definition), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-orchestrator",
        description="Durable LLM pipelines on Temporal: validate, draw and run workflow files.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check workflow files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="machine-readable report on stdout")
    validate.set_defaults(func=_cmd_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of the workflow language")
    schema.add_argument("-o", "--output", help="write to this file instead of stdout")
    schema.set_defaults(func=_cmd_schema)

    graph = sub.add_parser("graph", help="print the workflow's DAG as Mermaid or Graphviz dot")
    graph.add_argument("file", metavar="FILE")
    graph.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    graph.set_defaults(func=_cmd_graph)

    from llm_orchestrator import commands, indexing

    commands.register(sub)
    indexing.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except WorkflowDefinitionError as exc:
        for problem in exc.problems:
            print(problem.format(), file=sys.stderr)
        return 1
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

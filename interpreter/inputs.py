"""Check a run's inputs against the workflow's declared ``inputs`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interpreter.errors import InputError, Problem
from interpreter.hints import nearest
from interpreter.models import InputType, WorkflowDefinition

__all__ = ["input_schema", "resolve_inputs"]

_JSON_TYPES = {
    InputType.STRING: "string",
    InputType.NUMBER: "number",
    InputType.INTEGER: "integer",
    InputType.BOOLEAN: "boolean",
    InputType.OBJECT: "object",
    InputType.ARRAY: "array",
}


def input_schema(definition: WorkflowDefinition) -> dict[str, Any]:
    """The JSON Schema of a workflow's declared inputs (any object when it declares none):
    what `mcp-server` lists for a workflow and what an agent's `workflow:` tool takes."""
    if not definition.inputs:
        return {"type": "object", "additionalProperties": True}
    properties: dict[str, Any] = {}
    for name, spec in definition.inputs.items():
        prop: dict[str, Any] = {}
        if spec.type in _JSON_TYPES:
            prop["type"] = _JSON_TYPES[spec.type]
        if spec.description:
            prop["description"] = spec.description
        if spec.default is not None:
            prop["default"] = spec.default
        properties[name] = prop
    required = [name for name, spec in definition.inputs.items() if spec.required]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def resolve_inputs(definition: WorkflowDefinition, given: Mapping[str, Any]) -> dict[str, Any]:
    """Return the inputs with defaults filled in; :class:`InputError` lists every problem.

    A workflow that declares no inputs (the original format could not) accepts any.
    """
    if not isinstance(given, Mapping):
        raise InputError([Problem("inputs must be a JSON object of name → value", "inputs")])
    declared = definition.inputs
    if not declared:
        return dict(given)
    problems: list[Problem] = []
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
            if not spec.type.accepts(value):
                problems.append(
                    Problem(
                        f"input `{name}` must be {spec.type.noun}, got {_describe(value)}",
                        "inputs",
                        where=name,
                    )
                )
            resolved[name] = value
        elif spec.required:
            problems.append(
                Problem(
                    f"missing required input `{name}` ({spec.type.value})",
                    "inputs",
                    hint=f"pass it, e.g. --input {name}=...",
                    where=name,
                )
            )
        else:
            resolved[name] = spec.default
    for name in given:
        if name not in declared:
            problems.append(
                Problem(
                    f"unknown input `{name}`; `{definition.name}` declares "
                    + ", ".join(f"`{n}`" for n in declared),
                    "inputs",
                    hint=nearest(name, set(declared)),
                    where=name,
                )
            )
    if problems:
        raise InputError(problems)
    return resolved


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__

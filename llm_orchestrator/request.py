"""What `run` and `start` send: inputs from the command line, the run input, the start call.

``--input`` rules, in order, for each occurrence:

- ``@file.json`` — a JSON object read from the file;
- ``{...}`` — a JSON object;
- ``KEY=VALUE`` — one input. When the workflow file declares ``KEY`` as
  ``type: string``, VALUE is the text as written (``text=5`` is the string
  ``"5"``); otherwise VALUE is parsed as JSON when it parses (``n=5`` is the
  number 5, ``tags=["a"]`` a list) and kept as text when it does not. For a
  catalog name sent to remote workers the CLI cannot see the declarations, so
  write a string that looks like JSON quoted: ``text='"5"'``;
- a path to an existing ``.json`` file — as ``@file``.

``--mock STEP=VALUE`` gives a step's output so that it does not run (a branch
takes that case): VALUE is JSON when it parses, else text; ``@file.json`` reads
a file. Try another case of an ``--offline`` run without editing the file.

A catalog name that `run` can read itself (its in-process worker's catalog) is
resolved here and sent as the definition, pinned with the workflows it names,
exactly as a file is: the run then skips the `resolve_workflow` activity (one
activity round trip; docs/performance.md, "Start-up"). A name for remote
workers (`start`, `run --no-worker`) is sent as the name; their catalog decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from activities.catalog import Catalog
from activities.settings import ActivitySettings
from interpreter.contract import RunInput
from interpreter.dag import Dag
from interpreter.errors import OrchestratorError
from interpreter.hints import nearest
from interpreter.inputs import resolve_inputs
from interpreter.library import load_with_library
from interpreter.models import InputSpec, InputType, WorkflowDefinition

__all__ = [
    "names_a_file",
    "parse_inputs",
    "parse_mocks",
    "parse_value",
    "run_input",
]


def parse_inputs(items: tuple[str, ...], declared: Mapping[str, InputSpec]) -> dict[str, Any]:
    """Merge every ``--input`` into one dict (later ones win); see the module docstring."""
    inputs: dict[str, Any] = {}
    for item in items:
        text = item.strip()
        if text.startswith("@"):
            data = _read_json(text[1:], f"--input {item}")
        elif text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise OrchestratorError(f"--input: not a JSON object: {exc}") from None
        elif "=" in text:
            key, raw = text.split("=", 1)
            key = key.strip()
            spec = declared.get(key)
            data = {key: raw if spec is not None and spec.type == InputType.STRING else _json(raw)}
        elif Path(text).is_file():
            data = _read_json(text, f"--input {item}")
        else:
            raise OrchestratorError(
                f"--input {item!r}: write KEY=VALUE, a JSON object, or @file.json"
            )
        if not isinstance(data, dict):
            raise OrchestratorError(f"--input {item}: inputs must be a JSON object")
        inputs.update(data)
    return inputs


def parse_value(text: str, label: str) -> Any:
    """A value on the command line: ``@file.json`` read as JSON; JSON when it parses; else
    text. ``label`` (the flag as written) names it in an error."""
    if text.startswith("@"):
        return _read_json(text[1:], label)
    return _json(text)


def parse_mocks(items: tuple[str, ...], definition: WorkflowDefinition | None) -> dict[str, Any]:
    """``--mock STEP=VALUE`` → step id → output; a file's unknown step id fails here."""
    mocks: dict[str, Any] = {}
    steps = Dag.build(definition).nodes if definition is not None else None
    for item in items:
        step_id, sep, raw = item.partition("=")
        step_id = step_id.strip()
        if not sep or not step_id:
            raise OrchestratorError(f"--mock {item!r}: write STEP=VALUE (VALUE: JSON or text)")
        if steps is not None and step_id not in steps:
            hint = nearest(step_id, steps)
            raise OrchestratorError(
                f"--mock {item!r}: the workflow has no step `{step_id}`"
                + (f"; {hint}" if hint else "")
            )
        mocks[step_id] = parse_value(raw, f"--mock {item}")
    return mocks


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _read_json(path: str, item: str) -> Any:
    """JSON from a file; ``item`` names the flag and value for the error."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OrchestratorError(f"{item}: cannot read JSON: {exc}") from None


def names_a_file(workflow: str) -> bool:
    """Is `run`/`start`'s FILE_OR_NAME a file (else a catalog name)?"""
    path = Path(workflow)
    return path.suffix in (".yaml", ".yml", ".json") or path.exists()


def run_input(
    workflow: str,
    items: tuple[str, ...],
    *,
    offline: bool,
    mocks: tuple[str, ...] = (),
    catalog: ActivitySettings | None = None,
) -> tuple[RunInput, WorkflowDefinition | None]:
    """The run input for a file (validated, inputs checked) or a catalog name.

    A file travels with the workflows its `workflow` steps name (``RunInput.library``),
    so editing one of them never changes a run in flight. A name found in ``catalog``
    (the settings of `run`'s in-process worker) is sent the same way; without
    ``catalog``, or when it does not have the name, the name is sent and the worker
    resolves it (and says what its catalog has).
    """
    if names_a_file(workflow):
        path: Path | None = Path(workflow)
    else:
        path = Catalog(catalog).find(workflow) if catalog is not None else None
    if path is not None:
        definition, library = load_with_library(path)
        inputs = parse_inputs(items, definition.inputs)
        resolve_inputs(definition, inputs)  # fail before starting anything
        payload = definition.model_dump(mode="json", by_alias=True, exclude_none=True)
        request = RunInput(
            definition=payload,
            inputs=inputs,
            offline=offline,
            mocks=parse_mocks(mocks, definition),
            library=library,
        )
        return request, definition
    inputs = parse_inputs(items, {})
    request = RunInput(
        workflow=workflow, inputs=inputs, offline=offline, mocks=parse_mocks(mocks, None)
    )
    return request, None

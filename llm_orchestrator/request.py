"""What a run starts with: `run`/`start`'s flags, and the start input (:func:`start_input`,
which the SDK's ``Orchestrator.request`` builds too).

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
a file. Try another case of an ``--offline`` run without editing the file. A mock of a
step the workflow does not have fails before anything starts (a name sent to remote
workers: when their run starts).

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
    "start_input",
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


def parse_mocks(items: tuple[str, ...]) -> dict[str, Any]:
    """``--mock STEP=VALUE`` → step id → output (:func:`start_input` checks the step ids)."""
    mocks: dict[str, Any] = {}
    for item in items:
        step_id, sep, raw = item.partition("=")
        step_id = step_id.strip()
        if not sep or not step_id:
            raise OrchestratorError(f"--mock {item!r}: write STEP=VALUE (VALUE: JSON or text)")
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
    """`run`/`start`'s start input from their flags (:func:`start_input`), and the definition
    (``None`` for a name sent to the workers).

    A name found in ``catalog`` (the settings of `run`'s in-process worker) is loaded and
    sent as a file is; without ``catalog``, or when it does not have the name, the name is
    sent and the worker resolves it (and says what its catalog has).
    """
    if names_a_file(workflow):
        path: Path | None = Path(workflow)
    else:
        path = Catalog(catalog).find(workflow) if catalog is not None else None
    if path is None:
        request = start_input(
            workflow, parse_inputs(items, {}), offline=offline, mocks=parse_mocks(mocks)
        )
        return request, None
    definition, library = load_with_library(path)
    inputs = parse_inputs(items, definition.inputs)
    request = start_input(
        definition, inputs, offline=offline, mocks=parse_mocks(mocks), library=library
    )
    return request, definition


def start_input(
    workflow: WorkflowDefinition | str,
    inputs: Mapping[str, Any],
    *,
    offline: bool,
    mocks: Mapping[str, Any],
    library: Mapping[str, dict[str, Any]] | None = None,
) -> RunInput:
    """The start input of a `DagWorkflow` run: the one place the CLI (:func:`run_input`) and
    the SDK (``Orchestrator.request``) build it.

    ``workflow`` is a loaded definition, sent whole with ``library`` (the workflows its
    `workflow` steps name, pinned with the run so that editing one of them never changes a
    run in flight), or a catalog name, sent as the name for the worker to resolve and check.
    A definition's inputs and the step ids of ``mocks`` are checked here, so that a mistake
    fails before anything starts rather than as a failed run.
    """
    if isinstance(workflow, str):
        return RunInput(workflow=workflow, inputs=dict(inputs), offline=offline, mocks=dict(mocks))
    resolve_inputs(workflow, inputs)
    _check_mock_steps(mocks, workflow)
    return RunInput(
        definition=workflow.model_dump(mode="json", by_alias=True, exclude_none=True),
        inputs=dict(inputs),
        offline=offline,
        mocks=dict(mocks),
        library=dict(library or {}),
    )


def _check_mock_steps(mocks: Mapping[str, Any], definition: WorkflowDefinition) -> None:
    """A mock of a step the workflow does not have fails, with the nearest step id."""
    steps = Dag.build(definition).nodes
    for step_id in mocks:
        if step_id not in steps:
            hint = nearest(step_id, steps)
            raise OrchestratorError(
                f"mock `{step_id}`: the workflow has no such step" + (f"; {hint}" if hint else "")
            )

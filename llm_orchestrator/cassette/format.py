"""The cassette file: a finished run's definition, inputs and every outside answer, as JSON.

A cassette is written by `llm-orchestrator record` and read by `llm-orchestrator test`
(and ``llm_orchestrator.testing``). It holds, for each activity the run and its child
runs scheduled (model, embedding, search, tool, http and custom actions), the request
the step sent and the answer it got, keyed by where it was asked:

- ``path``: the child run it came from, as its workflow id below the recorded run's
  (``""`` for the run itself, ``summarize_each/batch-0`` for a `map` batch); child ids
  derive from their parent's, so the same workflow asks from the same paths again;
- ``step``: the step's id from the request (``step.id``), ``None`` for a custom action;
- ``activity``: the activity type (``step_llm``, ...);
- ``occurrence``: 0, 1, ... for calls with the same key (agent turns, fallback entries).

The run's own workflow id and each run's run id are written as ``<workflow-id>`` and
``<run-id>`` (they differ on every run), in requests and answers alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interpreter.errors import OrchestratorError

__all__ = [
    "FORMAT",
    "VERSION",
    "Call",
    "Cassette",
    "CassetteError",
    "Expect",
    "Failure",
    "Source",
    "load",
    "restore_ids",
    "save",
    "stable_ids",
]

FORMAT = "llm-orchestrator-cassette"
VERSION = 1
WORKFLOW_ID = "<workflow-id>"
RUN_ID = "<run-id>"


class CassetteError(OrchestratorError):
    """A cassette file that cannot be read, or a run that cannot be recorded."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Failure(_Model):
    """How a recorded call failed (a fallback entry that was skipped, a step that failed)."""

    message: str
    type: str | None = None
    details: list[Any] = Field(default_factory=list)


class Call(_Model):
    """One activity of the recorded run: where it was asked, what it sent, what it got."""

    path: str = ""
    step: str | None = None
    activity: str
    occurrence: int = 0
    label: str | None = None
    """How the run named the step (``summarize_each[3]`` for a map item), for reports."""
    request: Any = None
    result: Any = None
    failure: Failure | None = None

    def key(self) -> tuple[str, str | None, str]:
        return (self.path, self.step, self.activity)

    def name(self) -> str:
        """The step as a report names it."""
        who = self.label or self.step or self.activity
        return f"`{who}`" + (f" (in child run {self.path})" if self.path else "")


class Source(_Model):
    """Where `test` reads the workflow as it is now; neither: the pinned definition."""

    file: str | None = None
    """A workflow file, relative to the cassette's directory."""
    catalog: str | None = None
    """A name in the worker's catalog (``--catalog``)."""


class Expect(_Model):
    """How the recorded run ended: what a replay must end with too."""

    status: Literal["completed", "failed"]
    outputs: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, str] = Field(default_factory=dict)
    """Each step's final status."""
    error: str | None = None
    """A failed run's message."""


class Cassette(_Model):
    """A recorded run (see the module docstring)."""

    format: Literal["llm-orchestrator-cassette"] = "llm-orchestrator-cassette"
    version: int = VERSION
    recorded_from: dict[str, str] = Field(default_factory=dict)
    """The run's workflow id, run id and when it was recorded: for people, not for `test`."""
    source: Source = Field(default_factory=Source)
    definition: dict[str, Any]
    """The definition the recorded run used (pinned in its history)."""
    library: dict[str, dict[str, Any]] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    offline: bool = False
    mocks: dict[str, Any] = Field(default_factory=dict)
    calls: list[Call] = Field(default_factory=list)
    expect: Expect


def load(path: Path) -> Cassette:
    """Read a cassette; anything else (not JSON, another file, another version) is a
    :class:`CassetteError` that says what the file is and what was expected."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CassetteError(
            f"{path}:{exc.lineno}:{exc.colno}: not a cassette: invalid JSON ({exc.msg})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CassetteError(
            f'{path}: not an llm-orchestrator cassette (no `"format": "{FORMAT}"`); '
            "write one with `llm-orchestrator record RUN_ID -o FILE`"
        )
    version = data.get("version")
    if version != VERSION:
        raise CassetteError(
            f"{path}: cassette format version {version!r}; this llm-orchestrator reads "
            f"version {VERSION} (re-record it with `llm-orchestrator test --update {path}`, "
            "or use the llm-orchestrator that wrote it)"
        )
    try:
        return Cassette.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'the file'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        raise CassetteError(f"{path}: broken cassette: {problems}") from None


def save(cassette: Cassette, path: Path) -> None:
    """Write ``cassette`` as indented JSON (reviewable in a diff), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = cassette.model_dump(mode="json", exclude_defaults=False)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def stable_ids(value: Any, workflow_id: str, run_id: str) -> Any:
    """``value`` with this run's ids written as placeholders (they change on every run)."""
    return _replace(value, [(run_id, RUN_ID), (workflow_id, WORKFLOW_ID)])


def restore_ids(value: Any, workflow_id: str, run_id: str) -> Any:
    """The placeholders of :func:`stable_ids` back to a run's ids."""
    return _replace(value, [(RUN_ID, run_id), (WORKFLOW_ID, workflow_id)])


def _replace(value: Any, pairs: list[tuple[str, str]]) -> Any:
    pairs = [(old, new) for old, new in pairs if old]
    if isinstance(value, str):
        for old, new in pairs:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace(v, pairs) for v in value]
    if isinstance(value, dict):
        return {_replace(k, pairs): _replace(v, pairs) for k, v in value.items()}
    return value

"""Rewrite files in the original (Rust) LLM-Orchestrator format into the canonical shape.

Runs on the freshly parsed :class:`~interpreter.source.LocDict` tree before pydantic
sees it, moving values together with their source positions so that errors still
point at what the user wrote. Each rewrite is triggered by a key that only the
original format uses, so canonical files pass through untouched. The mapping is
documented in ``docs/original-format.md``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from interpreter.source import LocDict, LocList
from interpreter.steps import KINDS, StepBase

__all__ = ["normalize"]

_RETRY_ORIGINAL_KEYS = {
    "initial_delay_ms",
    "max_delay_ms",
    "backoff",
    "strategy",
    "initial_delay",
    "max_delay",
    "backoff_multiplier",
}
_BACKOFF_COEFFICIENT = {"exponential": 2.0, "linear": 1.0, "constant": 1.0, "fixed": 1.0}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STEP_FIELDS = {name for name in StepBase.model_fields} | {"type", "condition", "timeout_seconds"}


def _fields(model: type[StepBase]) -> set[str]:
    names = set(model.model_fields)
    names.update(f.alias for f in model.model_fields.values() if f.alias)
    return names | {"type", "condition", "timeout_seconds"}


_FREE_KEYS = {
    name: (kind.free_keys_into, _fields(kind.model))
    for name, kind in KINDS.items()
    if kind.free_keys_into is not None
}
"""Per kind: the field that collects keys it does not know, and the keys it does."""


def _move(d: LocDict, old: str, new: str) -> None:
    """Rename key ``old`` to ``new`` keeping its positions (callers check ``new`` is free)."""
    d[new] = d.pop(old)
    d.pos[new] = d.pos.pop(old, d.mark)
    d.key_pos[new] = d.key_pos.pop(old, d.mark)


def _sub(parent: LocDict, key: str) -> LocDict:
    """``parent[key]`` as a LocDict, created at the parent's position if missing."""
    value = parent.get(key)
    if not isinstance(value, LocDict):
        value = LocDict(mark=parent.mark)
        parent[key] = value
        parent.pos[key] = parent.mark
        parent.key_pos[key] = parent.mark
    return value


def _looks_like_typo(key: str, known: set[str]) -> bool:
    return bool(difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8))


def _collect_output_names(steps: Any, names: set[str]) -> None:
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("id"), str):
            names.add(step["id"])  # `outputs.<id>` is that step's first output
        output = step.get("output")
        if isinstance(output, str):
            names.add(output)
        elif isinstance(output, list):
            names.update(o for o in output if isinstance(o, str))
        _collect_output_names(step.get("steps"), names)
        _collect_output_names(step.get("tasks"), names)
        for items in (
            (step.get("branches") or {}).values() if isinstance(step.get("branches"), dict) else ()
        ):
            _collect_output_names(items, names)


def normalize(doc: Any) -> Any:
    """Return ``doc`` in the canonical shape (mutated in place when it is a mapping)."""
    if not isinstance(doc, LocDict):
        return doc
    if "timeout_seconds" in doc and "timeout" not in doc:
        _move(doc, "timeout_seconds", "timeout")
    if "id" in doc and not isinstance(doc.get("id"), dict):
        # the original format allowed a UUID `id`; keep it as metadata
        _sub(doc, "metadata").setdefault("id", doc["id"])
        doc.pop("id")
    output_names: set[str] = set()
    _collect_output_names(doc.get("steps"), output_names)
    steps = doc.get("steps")
    if isinstance(steps, list):
        for step in steps:
            _normalize_step(step, output_names)
    defaults = doc.get("defaults")
    if isinstance(defaults, LocDict):
        if "timeout_seconds" in defaults and "timeout" not in defaults:
            _move(defaults, "timeout_seconds", "timeout")
        if isinstance(defaults.get("retry"), LocDict):
            _normalize_retry(defaults["retry"])
    return doc


def _normalize_step(step: Any, output_names: set[str]) -> None:
    if not isinstance(step, LocDict):
        return
    kind = step.get("type")
    if "timeout_seconds" in step and "timeout" not in step:
        _move(step, "timeout_seconds", "timeout")
    if kind != "branch" and "condition" in step and "when" not in step:
        _move(step, "condition", "when")
    if isinstance(step.get("retry"), LocDict):
        _normalize_retry(step["retry"])

    if isinstance(kind, str) and kind in _FREE_KEYS:
        target, known = _FREE_KEYS[kind]
        _gather_free_keys(step, known, target)
    if kind == "parallel":
        if "tasks" in step and "steps" not in step:
            _move(step, "tasks", "steps")
        for child in _list(step.get("steps")):
            _normalize_step(child, output_names)
    elif kind == "branch":
        branches = step.get("branches")
        if isinstance(branches, LocDict):
            for items in branches.values():
                for item in _list(items):
                    _normalize_step(item, output_names)
        for item in _list(step.get("default")):
            _normalize_step(item, output_names)
    elif kind == "transform":
        inputs = step.get("inputs")
        if isinstance(inputs, LocList):
            for i, item in enumerate(inputs):
                if isinstance(item, str) and _IDENT.match(item):
                    # original format: a bare name is an input or an earlier step's output name
                    root = "outputs" if item in output_names else "inputs"
                    inputs[i] = "{{ " + f"{root}.{item}" + " }}"


def _list(value: Any) -> list[Any]:
    """Nested steps, or nothing when the value is not a list (validation reports it)."""
    return value if isinstance(value, list) else []


def _gather_free_keys(step: LocDict, known: set[str], target: str) -> None:
    """Move keys the canonical model does not know into ``step[target]``.

    The original format put provider options and action/transform parameters
    directly on the step. A key that looks like a misspelt step field
    (``dependson``) is left in place so validation reports it with a hint.
    """
    for key in [k for k in step if k not in known]:
        if _looks_like_typo(key, _STEP_FIELDS | known):
            continue
        bucket = _sub(step, target)
        if key not in bucket:
            bucket[key] = step[key]
            bucket.pos[key] = step.pos.get(key, step.mark)
            bucket.key_pos[key] = step.key_pos.get(key, step.mark)
        del step[key]


def _normalize_retry(retry: LocDict) -> None:
    """Original retry blocks: milliseconds, ``backoff`` by name, ``max_attempts`` = retries."""
    if not _RETRY_ORIGINAL_KEYS & set(retry):
        return
    for ms_key, sec_key in (
        ("initial_delay_ms", "initial_interval"),
        ("initial_delay", "initial_interval"),
        ("max_delay_ms", "max_interval"),
        ("max_delay", "max_interval"),
    ):
        if ms_key in retry and sec_key not in retry:
            value = retry[ms_key]
            _move(retry, ms_key, sec_key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                retry[sec_key] = value / 1000.0
        elif ms_key in retry:
            del retry[ms_key]
    for name_key in ("backoff", "strategy"):
        if name_key in retry:
            name = retry.pop(name_key)
            if "backoff_coefficient" not in retry and isinstance(name, str):
                coefficient = _BACKOFF_COEFFICIENT.get(name.lower())
                if coefficient is None:
                    retry["backoff_coefficient"] = name  # let validation report it
                else:
                    retry["backoff_coefficient"] = coefficient
                    retry.pos["backoff_coefficient"] = retry.mark
    if "backoff_multiplier" in retry:
        _move(retry, "backoff_multiplier", "backoff_coefficient")
    if isinstance(retry.get("max_attempts"), int) and not isinstance(retry["max_attempts"], bool):
        # the original counted retries after the first try
        retry["max_attempts"] = retry["max_attempts"] + 1

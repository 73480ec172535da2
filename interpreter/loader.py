"""Load a workflow file (or an already-parsed object) into a checked definition.

The pipeline is: decode → parse with positions (:mod:`interpreter.source`) →
rewrite the original format (:mod:`interpreter.compat`) → pydantic models →
whole-file checks (:mod:`interpreter.validate`). Every stage reports all the
problems it can find, located as ``path:line:col``, through one
:class:`~interpreter.errors.WorkflowDefinitionError`.
"""

from __future__ import annotations

import copy
import difflib
import gc
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from interpreter.compat import normalize
from interpreter.errors import Problem, WorkflowDefinitionError
from interpreter.models import WorkflowDefinition
from interpreter.source import LocDict, LocList, decode, key_position, parse, position
from interpreter.steps import KINDS
from interpreter.validate import check_definition

__all__ = ["load_definition", "load_file", "load_text"]

_STEP_TYPES = sorted(KINDS)
_STEP_FIELDS_BY_TYPE = {name: set(kind.model.model_fields) for name, kind in KINDS.items()}
_TOP_FIELDS = set(WorkflowDefinition.model_fields)
_KIND_NAMES = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def load_file(path: str | Path) -> WorkflowDefinition:
    """Read, parse and check the workflow file at ``path``."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise WorkflowDefinitionError([Problem("file not found", name)]) from None
    except IsADirectoryError:
        raise WorkflowDefinitionError(
            [Problem("is a directory, not a workflow file", name)]
        ) from None
    except OSError as exc:
        raise WorkflowDefinitionError(
            [Problem(f"cannot read file: {exc.strerror}", name)]
        ) from None
    return load_text(decode(raw, name), name)


def load_text(text: str, path: str = "<workflow>") -> WorkflowDefinition:
    """Parse and check workflow text (YAML or JSON)."""
    # Loading builds a large tree of long-lived objects; with the cyclic collector on, its
    # repeated passes over that growing tree made a 5,000-step file load 35% slower.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return load_definition(parse(text, path), path)
    finally:
        if enabled:
            gc.enable()


def load_definition(
    data: Any,
    path: str = "<definition>",
    *,
    outer: Iterable[str] = (),
    roots: Iterable[str] = (),
) -> WorkflowDefinition:
    """Check an already-parsed workflow object (e.g. the ``definition`` of a start input).

    ``outer`` and ``roots``: for a body run, the outer steps and extra names its
    templates may read (see :func:`~interpreter.validate.check_definition`).
    """
    if not isinstance(data, Mapping):
        kind = "a list" if isinstance(data, list) else _KIND_NAMES.get(type(data), "a value")
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"the top level is {kind}; a workflow is a mapping",
                    path,
                    (getattr(data, "mark", None) or (1, 1))[0],
                    (getattr(data, "mark", None) or (1, 1))[1],
                    hint="start the file with `name:` and `steps:`",
                )
            ]
        )
    if not isinstance(data, LocDict):
        data = _locate(data)
    data = normalize(data)
    try:
        definition = WorkflowDefinition.model_validate(data)
    except ValidationError as exc:
        problems = _problems_from_pydantic(exc, data, path)
        problems += _check_salvaged(exc, data, path)
        raise WorkflowDefinitionError(_sorted(problems)) from None
    except RecursionError:
        raise WorkflowDefinitionError(
            [Problem("steps are nested too deeply", path, 1, 1)]
        ) from None
    problems = check_definition(definition, data, path, outer=outer, roots=roots)
    if problems:
        raise WorkflowDefinitionError(_sorted(problems))
    return definition


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _check_salvaged(exc: ValidationError, data: LocDict, path: str) -> list[Problem]:
    """Whole-file checks on a copy where each step with field errors is replaced by a stub.

    This way one run reports both a wrong `max_tokens` and an unknown `depends_on`
    id elsewhere, instead of making the user fix them in rounds.
    """
    salvage = copy.deepcopy(data)
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if not loc or loc[0] != "steps":
            if loc and loc[0] in salvage and loc[0] not in ("name", "steps"):
                salvage.pop(str(loc[0]), None)
            continue
        parent: Any = None
        index: Any = None
        node: Any = salvage
        for part in loc:
            if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                if isinstance(node[part], Mapping):
                    parent, index = node, part
                node = node[part]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
        if parent is not None:
            broken = parent[index]
            stub = LocDict(mark=getattr(broken, "mark", (1, 1)))
            raw_id = broken.get("id")
            stub["id"] = raw_id if isinstance(raw_id, str) and raw_id else f"_invalid_{index}"
            stub["type"] = "transform"
            stub["template"] = ""
            stub.pos.update({k: v for k, v in broken.pos.items() if k == "id"})
            parent[index] = stub
    salvage.setdefault("name", "unnamed")
    try:
        definition = WorkflowDefinition.model_validate(salvage)
    except (ValidationError, RecursionError):
        return []
    return check_definition(definition, salvage, path)


def _locate(value: Any) -> Any:
    """Wrap plain dicts/lists (from JSON inputs) so positions degrade gracefully."""
    if isinstance(value, Mapping):
        out = LocDict()
        for key, item in value.items():
            out[str(key)] = _locate(item)
        return out
    if isinstance(value, list):
        seq = LocList(_locate(v) for v in value)
        seq.pos = [(1, 1)] * len(seq)
        return seq
    return value


def _walk(root: Any, loc: tuple[Any, ...]) -> tuple[Any, tuple[str | int, ...]]:
    """Follow ``loc`` through the data, skipping pydantic's union labels; return node and path."""
    node = root
    path: list[str | int] = []
    tagged: Any = None
    for part in loc:
        if (
            isinstance(node, Mapping)
            and node is not tagged
            and part == node.get("type")
            and part in _STEP_FIELDS_BY_TYPE
        ):
            tagged = node  # the union's tag, not a key (an `action` step also has a key `action`)
            continue
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if (isinstance(node, Mapping) and part in node) or in_list:
            node = node[part]
            path.append(part)
    return node, tuple(path)


def _label(path: tuple[str | int, ...], root: Any) -> str:
    """`step `classify`, field `max_tokens`` style description of where a value sits."""
    step_id = None
    field: str | int | None = None
    node = root
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        field = part if step_id is not None and field is None else field
        if isinstance(node, Mapping) and isinstance(node.get("id"), str) and "type" in node:
            step_id, field = node["id"], None
    if step_id is None:
        top = next((p for p in path if isinstance(p, str)), None)
        return f"`{top}`" if top else "workflow"
    if field is not None and field != "id":
        return f"step `{step_id}`, field `{field}`"
    return f"step `{step_id}`"


def _problems_from_pydantic(exc: ValidationError, root: Any, path: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[int | None, int | None, str]] = set()
    errors = exc.errors(include_url=False)
    # A branch case item may be a step id or an inline step; when it is a mapping,
    # pydantic's complaint that it is "not a string" is noise.
    errors = [
        e
        for e in errors
        if not (
            e["type"] == "string_type"
            and isinstance(e.get("input"), Mapping)
            and ("branches" in e["loc"] or "default" in e["loc"])
        )
    ]
    for error in errors:
        loc = tuple(error["loc"])
        kind = error["type"]
        _, data_path = _walk(root, loc)
        hint: str | None = None
        if kind == "extra_forbidden":
            field = str(loc[-1])
            container, _ = _walk(root, loc[:-1])
            candidates = _TOP_FIELDS
            if isinstance(container, Mapping) and container.get("type") in _STEP_FIELDS_BY_TYPE:
                candidates = _STEP_FIELDS_BY_TYPE[container["type"]] | {"condition"}
            elif container is not root:
                candidates = set().union(*_STEP_FIELDS_BY_TYPE.values())
            match = difflib.get_close_matches(field, sorted(candidates), n=1, cutoff=0.6)
            hint = f"did you mean `{match[0]}`?" if match else "remove it, or check the docs"
            where = _label(data_path[:-1], root) if data_path else "workflow"
            message = f"{where}: unknown field `{field}`"
            line_col = key_position(root, data_path) or position(root, data_path)
        elif kind == "union_tag_invalid":
            tag = error.get("ctx", {}).get("tag")
            match = difflib.get_close_matches(str(tag), _STEP_TYPES, n=1, cutoff=0.5)
            message = f"{_label(data_path, root)}: unknown step type `{tag}`"
            hint = (
                (f"did you mean `{match[0]}`? " if match else "")
                + "types: "
                + ", ".join(_STEP_TYPES)
            )
            line_col = position(root, (*data_path, "type"))
        elif kind == "union_tag_not_found":
            message = f"{_label(data_path, root)}: step has no `type`"
            hint = "add `type:` with one of " + ", ".join(_STEP_TYPES)
            line_col = position(root, data_path)
        elif kind == "missing":
            field = str(loc[-1])
            message = f"{_label(data_path, root)}: missing required field `{field}`"
            line_col = position(root, data_path)
        else:
            text = error["msg"].removeprefix("Value error, ")
            where = _label(data_path, root)
            got = error.get("input")
            shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
            message = f"{where}: {text}{shown}"
            line_col = position(root, data_path)
        key = (line_col[0] if line_col else None, line_col[1] if line_col else None, message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(
            Problem(
                message,
                path,
                key[0],
                key[1],
                hint=hint,
                where=".".join(str(p) for p in data_path),
            )
        )
    return problems

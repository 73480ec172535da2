"""Resolve `{"workflow": NAME}` against the worker's catalog directory of workflow files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from activities._failures import step_failure
from activities.settings import ActivitySettings
from interpreter.catalog import ResolvedWorkflow, ResolveRequest
from interpreter.contract import ACTIVITY_RESOLVE_WORKFLOW
from interpreter.errors import ERROR_INVALID_DEFINITION, WorkflowDefinitionError
from interpreter.hints import nearest
from interpreter.library import load_with_library
from interpreter.loader import load_file

__all__ = ["Catalog"]

_SUFFIXES = (".yaml", ".yml", ".json")


class Catalog:
    """Workflow files in one directory, addressed by file stem or by their `name:`."""

    def __init__(self, settings: ActivitySettings) -> None:
        self._dir = settings.catalog_dir

    def files(self) -> list[Path]:
        if not self._dir.is_dir():
            return []
        return sorted(
            p
            for p in self._dir.iterdir()
            if p.suffix in _SUFFIXES and not p.name.endswith(".input.json")
        )

    def find(self, name: str) -> Path | None:
        for path in self.files():
            if path.stem == name or path.name == name:
                return path
        for path in self.files():
            try:
                if load_file(path).name == name:
                    return path
            except WorkflowDefinitionError:
                continue
        return None

    @activity.defn(name=ACTIVITY_RESOLVE_WORKFLOW)
    async def resolve(self, request: ResolveRequest) -> ResolvedWorkflow:
        # reading and validating files blocks: keep it off the worker's event loop
        return await asyncio.to_thread(self._resolve, request.name)

    def _resolve(self, name: str) -> ResolvedWorkflow:
        path = self.find(name)
        if path is None:
            names = [p.stem for p in self.files()]
            hint = nearest(name, set(names))
            raise step_failure(
                f"no workflow named `{name}` in the worker's catalog {self._dir}"
                + (f"; {hint}" if hint else "")
                + (
                    f" (available: {', '.join(names)})"
                    if names
                    else " (it is empty)"
                    if self._dir.is_dir()
                    else " (the directory does not exist; start the worker with --catalog DIR)"
                ),
                type=ERROR_INVALID_DEFINITION,
            )
        try:
            definition, library = load_with_library(path)
        except WorkflowDefinitionError as exc:
            raise step_failure(
                f"workflow file {path} is invalid:\n{exc}", type=ERROR_INVALID_DEFINITION
            ) from None
        return ResolvedWorkflow(definition=definition, source=str(path), library=library)

"""The workflow language as pydantic models: one canonical shape for every file.

The whole file is :class:`WorkflowDefinition`; each step kind's model lives with
the rest of that kind in :mod:`interpreter.steps`, and the shared field types in
:mod:`interpreter.fields` (both re-exported here, the language's public names).
Files in the original (Rust) LLM-Orchestrator format are rewritten into this shape
by :mod:`interpreter.compat` before validation. Evolve the models by adding fields
with defaults: definitions are stored in Temporal histories and old runs must keep
replaying.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from interpreter.budgets import Budget
from interpreter.durations import Duration
from interpreter.fields import (
    Defaults,
    JsonSchemaFormat,
    LanguageModel,
    Message,
    RetryPolicy,
    StepId,
    TriggerRule,
)
from interpreter.steps import (
    ActionStep,
    AnyStep,
    BranchStep,
    EmbedStep,
    LlmStep,
    ParallelStep,
    Step,
    StepBase,
    TransformStep,
    VectorSearchStep,
)

__all__ = [
    "ActionStep",
    "AnyStep",
    "BranchStep",
    "Budget",
    "Defaults",
    "EmbedStep",
    "InputSpec",
    "InputType",
    "JsonSchemaFormat",
    "LlmStep",
    "Message",
    "ParallelStep",
    "RetryPolicy",
    "Step",
    "StepBase",
    "StepId",
    "TransformStep",
    "TriggerRule",
    "VectorSearchStep",
    "WorkflowDefinition",
]


class InputType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ANY = "any"

    def accepts(self, value: Any) -> bool:
        """Is ``value`` (parsed JSON) of this type? Booleans are not numbers."""
        kinds = _KINDS[self][0]
        return kinds is None or (
            isinstance(value, kinds) and (self == InputType.BOOLEAN or not isinstance(value, bool))
        )

    @property
    def noun(self) -> str:
        """The type in words, e.g. ``an integer``."""
        return _KINDS[self][1]


_KINDS: dict[InputType, tuple[type | tuple[type, ...] | None, str]] = {
    InputType.STRING: (str, "a string"),
    InputType.NUMBER: ((int, float), "a number"),
    InputType.INTEGER: (int, "an integer"),
    InputType.BOOLEAN: (bool, "true or false"),
    InputType.OBJECT: (dict, "an object"),
    InputType.ARRAY: (list, "an array"),
    InputType.ANY: (None, "any value"),
}


class InputSpec(LanguageModel):
    """A declared workflow input; start inputs are checked against these."""

    type: InputType = InputType.ANY
    required: bool = True
    default: Any = None
    description: str | None = None

    @model_validator(mode="after")
    def _default_has_the_type(self) -> InputSpec:
        if self.default is not None and not self.type.accepts(self.default):
            raise ValueError(f"default {self.default!r} is not {self.type.noun}")
        return self

    @model_validator(mode="after")
    def _default_means_optional(self) -> InputSpec:
        if self.default is not None and self.required and "required" not in self.model_fields_set:
            return self.model_copy(update={"required": False})
        return self


class WorkflowDefinition(LanguageModel):
    """A whole workflow file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"title": "llm-orchestrator workflow"},
    )

    name: str = Field(min_length=1)
    version: str = "1.0"
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="Templates rendered when the run ends."
    )
    timeout: Duration | None = None
    budget: Budget | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

"""The workflow language as pydantic models: one canonical shape for every file.

Files in the original (Rust) LLM-Orchestrator format are rewritten into this shape
by :mod:`interpreter.compat` before validation, so everything after loading sees
only these classes. Evolve them by adding fields with defaults: definitions are
stored in Temporal histories and old runs must keep replaying.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interpreter.durations import Duration

StepId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=128)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TriggerRule(StrEnum):
    """When a step whose dependencies were skipped or failed still runs."""

    ALL_SUCCESS = "all_success"
    ONE_SUCCESS = "one_success"
    ALL_DONE = "all_done"


class RetryPolicy(_Model):
    """Maps onto Temporal's RetryPolicy for the step's activity."""

    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_interval: Duration = 1.0
    backoff_coefficient: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Duration | None = None
    non_retryable_errors: list[str] = Field(default_factory=list)
    jitter: bool = True


class InputType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ANY = "any"


class InputSpec(_Model):
    """A declared workflow input; start inputs are checked against these."""

    type: InputType = InputType.ANY
    required: bool = True
    default: Any = None
    description: str | None = None

    @model_validator(mode="after")
    def _default_means_optional(self) -> InputSpec:
        if self.default is not None and self.required and "required" not in self.model_fields_set:
            return self.model_copy(update={"required": False})
        return self


class Defaults(_Model):
    """File-wide defaults; a step's own value wins, then these, then the code's."""

    timeout: Duration | None = None
    retry: RetryPolicy | None = None
    provider: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    embedding_provider: str | None = None
    embedding_model: str | None = None


class Message(_Model):
    role: Literal["system", "user", "assistant"]
    content: str


class JsonSchemaFormat(_Model):
    """Structured output: the reply must parse as JSON and match ``json_schema``."""

    type: Literal["json_schema"] = "json_schema"
    name: str = "output"
    json_schema: dict[str, Any] = Field(alias="schema")


class _StepBase(_Model):
    id: StepId
    description: str | None = None
    depends_on: list[StepId] = Field(default_factory=list)
    when: str | None = Field(
        default=None, description="Jinja expression; the step is skipped unless it is true."
    )
    timeout: Duration | None = None
    retry: RetryPolicy | None = None
    output: list[str] = Field(
        default_factory=list, description="Names bound to the step's result, in order."
    )
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    continue_on_error: bool = False

    _split_str = field_validator("depends_on", "output", mode="before")(_as_list)


class LlmStep(_StepBase):
    """A chat/completion call to a language model."""

    type: Literal["llm"]
    provider: str | None = None
    model: str | None = None
    prompt: str | None = None
    system: str | None = None
    messages: list[Message] = Field(default_factory=list)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] = Field(default_factory=list)
    stream: bool = False
    response_format: Literal["text", "json"] | JsonSchemaFormat = "text"
    extra: dict[str, Any] = Field(default_factory=dict)
    mock_response: str | dict[str, Any] | list[Any] | None = Field(
        default=None, description="Answer used by the offline provider instead of a model."
    )

    _split_stop = field_validator("stop", mode="before")(_as_list)

    @model_validator(mode="after")
    def _needs_prompt(self) -> LlmStep:
        if self.prompt is None and not self.messages:
            raise ValueError("an `llm` step needs `prompt` or `messages`")
        return self


class EmbedStep(_StepBase):
    """Turn text (or a list of texts) into vectors."""

    type: Literal["embed"]
    provider: str | None = None
    model: str | None = None
    input: str | list[str]
    dimensions: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=64, gt=0)


class VectorSearchStep(_StepBase):
    """Nearest-neighbour search in a vector store."""

    type: Literal["vector_search"]
    database: str = "local"
    index: str
    query: str | list[float]
    top_k: int = Field(default=5, gt=0, le=1000)
    filter: dict[str, Any] | None = None
    namespace: str | None = None
    include_metadata: bool = True
    include_vectors: bool = False
    embedder: str | None = Field(
        default=None,
        description="`provider/model` that embeds the index's documents and text queries "
        "(default: the file's embedding defaults).",
    )


class TransformStep(_StepBase):
    """Pure data shaping: a Jinja template or a built-in function over ``inputs``."""

    type: Literal["transform"]
    template: str | None = None
    function: str | None = None
    inputs: Any = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_way(self) -> TransformStep:
        if (self.template is None) == (self.function is None):
            raise ValueError("a `transform` step needs exactly one of `template` or `function`")
        return self


class ActionStep(_StepBase):
    """A side effect: log, http/webhook, notify, publish, queue_review, or a custom activity."""

    type: Literal["action"]
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class ParallelStep(_StepBase):
    """Sub-steps that start together; the group finishes when all of them have."""

    type: Literal["parallel"]
    steps: list[Step] = Field(min_length=1)
    max_concurrency: int | None = Field(default=None, gt=0)


class BranchStep(_StepBase):
    """Evaluate ``condition`` and run only the matching case's steps; skip the others.

    A case lists steps inline or names steps defined elsewhere in the file.
    """

    type: Literal["branch"]
    condition: str
    branches: dict[str, list[StepId | Step]] = Field(min_length=1)
    default: list[StepId | Step] = Field(default_factory=list)


Step = Annotated[
    LlmStep | EmbedStep | VectorSearchStep | TransformStep | ActionStep | ParallelStep | BranchStep,
    Field(discriminator="type"),
]
"""Any step, discriminated on ``type``."""

STEP_CLASSES: tuple[type[_StepBase], ...] = (
    LlmStep,
    EmbedStep,
    VectorSearchStep,
    TransformStep,
    ActionStep,
    ParallelStep,
    BranchStep,
)
AnyStep = (
    LlmStep | EmbedStep | VectorSearchStep | TransformStep | ActionStep | ParallelStep | BranchStep
)


class Budget(_Model):
    """A per-run spending cap; model steps do not start once it is exceeded."""

    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)


class WorkflowDefinition(_Model):
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


ParallelStep.model_rebuild()
BranchStep.model_rebuild()
WorkflowDefinition.model_rebuild()

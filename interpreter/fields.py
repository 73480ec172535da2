"""Field types shared by every part of the workflow language: ids, retries, messages.

They live apart from :mod:`interpreter.models` so that the step kinds under
:mod:`interpreter.steps` and the whole-file model can both import them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from interpreter.durations import Duration

__all__ = [
    "CacheField",
    "CacheOptions",
    "Defaults",
    "FallbackEntry",
    "FallbackOn",
    "JsonSchemaFormat",
    "LanguageModel",
    "Message",
    "RetryPolicy",
    "StepId",
    "TriggerRule",
    "as_list",
]

StepId = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=128)]


def as_list(value: Any) -> Any:
    """A lone string where a list is expected means a list of one."""
    return [value] if isinstance(value, str) else value


class LanguageModel(BaseModel):
    """What users write: strict (unknown keys are errors) and immutable."""

    # built on first use: a file is validated by `WorkflowDefinition`, whose one build
    # covers every model it holds; built one by one at import they cost ~20 ms more
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class TriggerRule(StrEnum):
    """When a step whose dependencies were skipped or failed still runs."""

    ALL_SUCCESS = "all_success"
    ONE_SUCCESS = "one_success"
    ALL_DONE = "all_done"


class RetryPolicy(LanguageModel):
    """Maps onto Temporal's RetryPolicy for the step's activity."""

    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_interval: Duration = 1.0
    backoff_coefficient: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Duration | None = None
    non_retryable_errors: list[str] = Field(default_factory=list)
    jitter: bool = True

    @model_validator(mode="after")
    def _interval_order(self) -> RetryPolicy:
        if self.max_interval is not None and self.max_interval < self.initial_interval:
            raise ValueError(
                f"max_interval ({self.max_interval:g}s) is shorter than initial_interval "
                f"({self.initial_interval:g}s)"
            )
        return self


class Message(LanguageModel):
    role: Literal["system", "user", "assistant"]
    content: str


class JsonSchemaFormat(LanguageModel):
    """Structured output: the reply must parse as JSON and match ``json_schema``."""

    type: Literal["json_schema"] = "json_schema"
    name: str = "output"
    json_schema: dict[str, Any] = Field(alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        import jsonschema  # here: ~35 ms to import, and most files have no schema to check

        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
        return value


FallbackOn = Literal["transient", "any"]
"""Which failures move a fallback chain to its next entry: the transient ones (rate limits,
overloads, 5xx, timeouts, an open breaker, a context-length error), or any failure."""


class FallbackEntry(LanguageModel):
    """A model to try when the ones before it in a step's chain failed."""

    provider: str = Field(min_length=1)
    model: str | None = Field(
        default=None, min_length=1, description="The step's model when not given."
    )
    timeout: Duration | None = Field(
        default=None, description="Per attempt; the step's timeout when not given."
    )
    retry: RetryPolicy | None = Field(
        default=None, description="This entry's retry policy; the step's when not given."
    )


class CacheOptions(LanguageModel):
    """`cache: {ttl: 7d, key: "{{ ... }}"}` on a model step (docs/cache.md)."""

    ttl: Duration | None = Field(
        default=None,
        description="How long an answer is kept (default: defaults.cache's, else 30d).",
    )
    key: str | None = Field(
        default=None,
        description="A template whose rendered value names the answer, in place of a hash of "
        "the whole request (the step's kind and the offline flag still count).",
    )


def _cache_kind(value: Any) -> str:
    return "options" if isinstance(value, dict | CacheOptions) else "flag"


CacheField = Annotated[
    Annotated[bool, Tag("flag")] | Annotated[CacheOptions, Tag("options")],
    Discriminator(_cache_kind),
]
"""`true` (cache with the default TTL), `false` (never, whatever the defaults say) or options;
told apart by shape, so an error names only the one the user meant."""


class Defaults(LanguageModel):
    """File-wide defaults; a step's own value wins, then these, then the code's."""

    timeout: Duration | None = None
    retry: RetryPolicy | None = None
    provider: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    embedding_provider: str | None = None
    embedding_model: str | None = None
    heartbeat_timeout: Duration | None = Field(
        default=None,
        description="A step activity silent this long is presumed lost with its worker and "
        "retried elsewhere (default 15s; streamed llm steps: 30s without a token).",
    )
    fallback: list[FallbackEntry] | None = Field(
        default=None, description="Models `llm` steps fall back to, in order."
    )
    fallback_on: FallbackOn | None = None
    repair_attempts: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Turns an `llm` step with a JSON response_format may spend repairing a reply.",
    )
    cache: CacheField | None = Field(
        default=None,
        description="Cache model steps whose temperature is unset or 0 (a step's own `cache` "
        "wins); no `key` here: a key names one step's answer.",
    )

    @field_validator("cache")
    @classmethod
    def _no_file_wide_key(cls, value: CacheField | None) -> CacheField | None:
        if isinstance(value, CacheOptions) and value.key is not None:
            raise ValueError(
                "`defaults.cache` cannot have a `key`: every step would share one answer; "
                "give `key` on the step's own `cache`"
            )
        return value

"""The `embed` step: text (or a list of texts) into vectors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from interpreter import defaults as code_defaults
from interpreter.budgets import Budgeted
from interpreter.caching import cache_use
from interpreter.contract import ACTIVITY_EMBED, CacheUse
from interpreter.fields import CacheField, Defaults, FallbackEntry, FallbackOn
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityChain,
    ActivityKind,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    fallback_chain,
    retry_of,
)

__all__ = ["KIND", "EmbedCall", "EmbedRequest", "EmbedStep"]


class EmbedStep(StepBase, Budgeted):
    """Turn text (or a list of texts) into vectors."""

    type: Literal["embed"]
    provider: str | None = None
    model: str | None = None
    input: str | list[str]
    dimensions: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=64, gt=0)
    pooling: Literal["mean"] | None = Field(
        default=None,
        description="Pool per-token vectors (a server running without pooling) into one.",
    )
    fallback: list[FallbackEntry] = Field(
        default_factory=list,
        description="Endpoints to try, in order, when the ones before failed. Vectors of "
        "another model do not match an index built with this one: name the same model.",
    )
    fallback_on: FallbackOn | None = None
    cache: CacheField | None = Field(
        default=None,
        description="Keep the vectors across runs: `true`, or `{ttl, key}` (docs/cache.md).",
    )


class EmbedCall(StepCall):
    """What the `embed` activity receives."""

    provider: str
    model: str
    input: str | list[str]
    dimensions: int | None = None
    batch_size: int = 64
    pooling: Literal["mean"] | None = None
    cache: CacheUse | None = None


class EmbedRequest(Payload):
    step: EmbedCall
    offline: bool = False


class _EmbedKind(ActivityKind[EmbedStep]):
    model = EmbedStep
    templated = ("input", "cache")
    shape: Shape = "task"
    metered = True

    def summary(self, step: EmbedStep, defaults: Defaults) -> str:
        provider = step.provider or defaults.embedding_provider or "default"
        return f"embed {provider}/{step.model or 'default'}"

    def call(self, step: EmbedStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        d = run.defaults
        call = EmbedCall.model_validate(
            {
                "id": step.id,
                "jitter": retry_of(step, run.defaults).jitter,
                "provider": step.provider
                or d.embedding_provider
                or code_defaults.EMBEDDING_PROVIDER,
                "model": step.model or d.embedding_model or code_defaults.EMBEDDING_MODEL,
                "input": rendered["input"],
                "dimensions": step.dimensions,
                "batch_size": step.batch_size,
                "pooling": step.pooling,
                "cache": cache_use(step.cache, rendered.get("cache"), d),
            }
        )
        return ActivityCall(
            ACTIVITY_EMBED,
            EmbedRequest(step=call, offline=run.offline),
            provider=call.provider,
            model=call.model,
        )

    def chain(self, step: EmbedStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityChain:
        # `defaults.fallback` names chat models: embed steps take only their own entries
        primary = self.call(step, rendered, run)
        request: EmbedRequest = primary.payload

        def payload_for(provider: str, model: str, jitter: bool) -> EmbedRequest:
            update = {"provider": provider, "model": model, "jitter": jitter}
            return request.model_copy(update={"step": request.step.model_copy(update=update)})

        return fallback_chain(
            primary,
            step.fallback,
            step.fallback_on or run.defaults.fallback_on or code_defaults.FALLBACK_ON,
            payload_for=payload_for,
            word="embed",
            retry=retry_of(step, run.defaults),
        )


KIND = _EmbedKind()

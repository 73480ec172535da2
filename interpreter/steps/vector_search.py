"""The `vector_search` step: nearest neighbours in a vector store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from interpreter import defaults as code_defaults
from interpreter.contract import ACTIVITY_VECTOR_SEARCH
from interpreter.fields import Defaults
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityKind,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    retry_of,
)

__all__ = ["KIND", "VectorSearchCall", "VectorSearchRequest", "VectorSearchStep"]


class VectorSearchStep(StepBase):
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


class VectorSearchCall(StepCall):
    """What the `vector_search` activity receives."""

    database: str = "local"
    index: str
    query: str | list[float]
    top_k: int = 5
    filter: dict[str, Any] | None = None
    namespace: str | None = None
    include_metadata: bool = True
    include_vectors: bool = False
    embedder: str | None = None
    """``provider/model`` that embeds the index's documents and text queries; the workflow
    always fills it in (the file's embedding defaults), ``None`` means the index's own."""


class VectorSearchRequest(Payload):
    step: VectorSearchCall
    offline: bool = False


class _VectorSearchKind(ActivityKind[VectorSearchStep]):
    model = VectorSearchStep
    templated = ("query", "filter", "namespace", "index")
    shape: Shape = "task"

    def summary(self, step: VectorSearchStep, defaults: Defaults) -> str:
        return f"vector_search {step.database}/{step.index}"

    def call(
        self, step: VectorSearchStep, rendered: Mapping[str, Any], run: RunFacts
    ) -> ActivityCall:
        d = run.defaults
        embedder = step.embedder or (
            f"{d.embedding_provider or code_defaults.EMBEDDING_PROVIDER}/"
            f"{d.embedding_model or code_defaults.EMBEDDING_MODEL}"
        )
        call = VectorSearchCall.model_validate(
            {
                **step.model_dump(exclude={"retry"}),
                **rendered,
                "jitter": retry_of(step, run.defaults).jitter,
                "embedder": embedder,
            }
        )
        return ActivityCall(
            ACTIVITY_VECTOR_SEARCH,
            VectorSearchRequest(step=call, offline=run.offline),
            # a vector against the embedded store: milliseconds on the worker's own disk,
            # no model call (a text query is embedded by a provider: a network call)
            local=call.database == "local" and isinstance(call.query, list),
        )


KIND = _VectorSearchKind()

"""The model-backed steps: `llm`, `embed` and `vector_search`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from temporalio import activity

from activities._failures import classified, step_failure
from activities.providers.base import EmbeddingProvider
from activities.providers.estimate import estimate_tokens, prompt_text
from activities.providers.prices import cost_usd
from activities.providers.registry import Providers
from activities.telemetry import provider_call
from activities.vectorstores import search_step
from activities.vectorstores.base import Hit, IndexMismatch, IndexNotFound
from activities.vectorstores.ingest import OFFLINE_EMBEDDER, Embedder
from activities.vectorstores.registry import Stores
from interpreter.contract import (
    ACTIVITY_EMBED,
    ACTIVITY_LLM,
    ACTIVITY_VECTOR_SEARCH,
    StepOutcome,
    Usage,
)
from interpreter.errors import StepError
from interpreter.steps.embed import EmbedRequest
from interpreter.steps.llm import LlmCall, LlmRequest, ResponseSchema
from interpreter.steps.vector_search import VectorSearchCall, VectorSearchRequest

__all__ = ["ModelActivities", "priced_usage"]

ERROR_INVALID_OUTPUT = "InvalidModelOutput"


def _structured(step: LlmCall, text: str) -> Any:
    """Parse (and check) JSON replies; a bad reply is retryable, the model may do better."""
    if step.response_format == "text":
        return text
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise step_failure(
            f"step `{step.id}`: the model's reply is not valid JSON ({exc.msg} at line "
            f"{exc.lineno} column {exc.colno}): {text[:200]!r}",
            type=ERROR_INVALID_OUTPUT,
            retryable=True,
        ) from None
    if isinstance(step.response_format, ResponseSchema):
        import jsonschema

        try:
            jsonschema.validate(value, step.response_format.json_schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise step_failure(
                f"step `{step.id}`: the model's JSON does not match the schema at {where}: "
                f"{exc.message}",
                type=ERROR_INVALID_OUTPUT,
                retryable=True,
            ) from None
    return value


def priced_usage(
    providers: Providers,
    model: str,
    input_tokens: int,
    output_tokens: int,
    offline: bool,
    *,
    read: str = "",
    written: str = "",
) -> Usage:
    """Usage and cost of a model call. Counts a provider left at 0 for text it did read
    (``read``) or write (``written``) are estimated and marked so: a silent 0 would let
    the step slip past the run's budget."""
    estimated = False
    if input_tokens == 0 and read:
        input_tokens, estimated = estimate_tokens(read), True
    if output_tokens == 0 and written:
        output_tokens, estimated = estimate_tokens(written), True
    price = None if offline else providers.config.price(model)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost_usd(price, input_tokens, output_tokens),
        estimated=estimated,
    )


class ModelActivities:
    """Activities that call model providers and vector stores."""

    def __init__(self, providers: Providers, stores: Stores) -> None:
        self._providers = providers
        self._stores = stores

    @activity.defn(name=ACTIVITY_LLM)
    @classified
    async def llm(self, request: LlmRequest) -> StepOutcome:
        step = request.step
        provider = self._providers.chat(step.id, step.provider or "", offline=request.offline)
        with provider_call(provider, "chat", model=step.model, step=step) as call:
            reply = await provider.complete(step)
            usage = priced_usage(
                self._providers,
                reply.model,
                reply.input_tokens,
                reply.output_tokens,
                request.offline,
                read=prompt_text(step),
                written=reply.text,
            )
            call.answered(
                reply.model,
                usage,
                finish_reason=reply.finish_reason,
                response_id=reply.metadata.get("id"),
                text=reply.text,
            )
        output = _structured(step, reply.text)
        metadata = {**reply.metadata, "finish_reason": reply.finish_reason}
        return StepOutcome(
            output=output,
            extras=[reply.model, usage.input_tokens + usage.output_tokens, metadata],
            usage=usage,
            attempt=activity.info().attempt,
        )

    async def _embed_batches(
        self,
        provider: EmbeddingProvider,
        texts: list[str],
        *,
        model: str,
        batch_size: int,
        dimensions: int | None,
        pooling: Literal["mean"] | None,
        offline: bool,
    ) -> tuple[list[list[float]], Usage, str]:
        """Embed ``texts`` in batches: the vectors, the usage and the model that answered."""
        vectors: list[list[float]] = []
        spent = Usage()
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            with provider_call(provider, "embeddings", model=model or None) as call:
                result = await provider.embed(
                    batch, model=model, dimensions=dimensions, pooling=pooling
                )
                usage = priced_usage(self._providers, result.model, result.input_tokens, 0,
                                     offline, read="".join(batch))  # fmt: skip
                call.answered(result.model, usage)
            vectors.extend(result.vectors)
            spent = spent + usage
            model = result.model
            activity.heartbeat(start)
        return vectors, spent, model

    @activity.defn(name=ACTIVITY_EMBED)
    @classified
    async def embed(self, request: EmbedRequest) -> StepOutcome:
        step = request.step
        provider = self._providers.embedder(step.id, step.provider or "", offline=request.offline)
        texts = [step.input] if isinstance(step.input, str) else list(step.input)
        vectors, spent, model = await self._embed_batches(
            provider,
            texts,
            model=step.model or "",
            batch_size=step.batch_size,
            dimensions=step.dimensions,
            pooling=step.pooling,
            offline=request.offline,
        )
        output: Any = vectors[0] if isinstance(step.input, str) else vectors
        dims = len(vectors[0]) if vectors else 0
        return StepOutcome(
            output=output,
            extras=[{"model": model, "dimensions": dims, "tokens_used": spent.input_tokens}],
            usage=spent,
            attempt=activity.info().attempt,
        )

    @activity.defn(name=ACTIVITY_VECTOR_SEARCH)
    @classified
    async def vector_search(self, request: VectorSearchRequest) -> StepOutcome:
        step = request.step
        spent = Usage()

        def embedder_for(name: str) -> Embedder:
            """The index's (or the step's) `provider/model`, usage summed into `spent`."""
            provider_name, _, model = name.partition("/")
            embedder = self._providers.embedder(step.id, provider_name, offline=request.offline)

            async def embed(texts: list[str]) -> list[list[float]]:
                nonlocal spent
                vectors, usage, _ = await self._embed_batches(
                    embedder,
                    texts,
                    model=model,
                    batch_size=64,
                    dimensions=None,
                    pooling=None,
                    offline=request.offline,
                )
                spent = spent + usage
                return vectors

            return Embedder(OFFLINE_EMBEDDER if embedder.name == "offline" else name, embed)

        stand_in = self._stores.offline_stand_in(step.database) if request.offline else None
        if stand_in is None:
            hits = await search_step.search(self._stores, step, embedder_for)
        else:
            activity.logger.info(
                "%s: offline run, `%s` is not configured here: searching the embedded store",
                step.id,
                step.database,
            )
            hits = await _stand_in_search(
                self._stores, step.model_copy(update={"database": stand_in}), embedder_for
            )
        results = [
            h.as_dict(include_metadata=step.include_metadata, include_vector=step.include_vectors)
            for h in hits
        ]
        meta = {
            "count": len(results),
            "top_k": step.top_k,
            "database": stand_in or step.database,
            "index": step.index,
        }
        if stand_in is not None:
            meta["offline_stand_in_for"] = step.database
        usage = spent if spent.input_tokens else None
        return StepOutcome(
            output=results,
            extras=[meta],
            usage=usage,
            attempt=activity.info().attempt,
            note=f"offline: local store in place of {step.database}" if stand_in else "",
        )


async def _stand_in_search(
    stores: Stores, step: VectorSearchCall, embedder_for: Callable[[str], Embedder]
) -> list[Hit]:
    """Search the embedded store in place of a remote one. An index it lacks, or one built
    for vectors of another size than the step's query (the remote index's real embedder),
    has no hits."""
    try:
        return await search_step.search(stores, step, embedder_for)
    except StepError as exc:
        if exc.error_type in (IndexNotFound.error_type, IndexMismatch.error_type):
            activity.logger.info("%s: no hits from the stand-in: %s", step.id, exc)
            return []
        raise

"""The model-backed steps: `llm`, `embed` and `vector_search`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jsonschema
from temporalio import activity

from activities import live_tokens
from activities._failures import classified, step_failure
from activities.cache.steps import StepCacheUse, cached
from activities.providers.base import ChatProvider, ChatReply, EmbeddingProvider
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
from interpreter.errors import ERROR_INVALID_MODEL_OUTPUT, StepError
from interpreter.steps.embed import EmbedRequest
from interpreter.steps.llm import ChatMessage, LlmCall, LlmRequest, ResponseSchema
from interpreter.steps.vector_search import VectorSearchCall, VectorSearchRequest

__all__ = ["ModelActivities", "priced_usage"]

_QUOTED_REPLY_CHARS = 1000
"""How much of the last bad reply a failed step's message quotes."""


def _json_path(path: Sequence[str | int]) -> str:
    """A JSON path as users read it: ``$.a.b[0]``, ``$["odd key"]``."""
    text = "$"
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _check_reply(step: LlmCall, text: str) -> tuple[Any, list[str]]:
    """The reply as the step's output, and what is wrong with it (every schema error, each
    as "`$.score`: 11 is greater than the maximum of 10"); no problems for plain text."""
    if step.response_format == "text":
        return text, []
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, [
            f"the reply is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ]
    if not isinstance(step.response_format, ResponseSchema):
        return value, []
    validator = jsonschema.Draft202012Validator(step.response_format.json_schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return value, [f"`{_json_path(list(e.absolute_path))}`: {e.message}" for e in errors]


def _repair_turn(step: LlmCall, reply: str, problems: Sequence[str]) -> LlmCall:
    """The step's conversation plus the model's bad reply and a user turn naming what is
    wrong with it, so the model fixes its own answer rather than starting over."""
    wanted = (
        "JSON matching the schema" if isinstance(step.response_format, ResponseSchema) else "JSON"
    )
    ask = (
        f"Your reply is not valid {wanted}:\n"
        + "\n".join(f"- {p}" for p in problems)
        + "\nReply again with the corrected JSON only, and nothing else."
    )
    messages = list(step.messages)
    if step.prompt is not None:
        messages.append(ChatMessage(role="user", content=step.prompt))
    messages += [
        ChatMessage(role="assistant", content=reply),
        ChatMessage(role="user", content=ask),
    ]
    return step.model_copy(update={"messages": messages, "prompt": None})


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

    def __init__(
        self, providers: Providers, stores: Stores, step_cache: StepCacheUse | None = None
    ) -> None:
        self._providers = providers
        self._stores = stores
        self.step_cache = step_cache or StepCacheUse(None)

    async def _chat(
        self, provider: ChatProvider, step: LlmCall, offline: bool
    ) -> tuple[ChatReply, Usage]:
        """One model call of an `llm` step: the reply and what it cost."""
        with provider_call(provider, "chat", model=step.model, step=step) as call:
            if step.stream:
                async with live_tokens.publishing(step.id):
                    reply = await provider.complete(step)
            else:
                reply = await provider.complete(step)
            usage = priced_usage(
                self._providers,
                reply.model,
                reply.input_tokens,
                reply.output_tokens,
                offline,
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
        return reply, usage

    @activity.defn(name=ACTIVITY_LLM)
    @cached("llm", StepOutcome)  # outside `classified`: what it keeps is the redacted outcome
    @classified
    async def llm(self, request: LlmRequest) -> StepOutcome:
        """One model exchange, repairs included: a JSON reply that does not parse or match
        the schema goes back to the model with its errors, up to ``repair_attempts`` times.
        Inside the activity, so that the repairs are one billed exchange in the history and
        a worker lost mid-repair repeats this exchange only, not the step's earlier ones."""
        step = request.step
        provider = self._providers.chat(step.id, step.provider or "", offline=request.offline)
        reply, usage = await self._chat(provider, step, request.offline)
        turn, repairs = step, 0
        output, problems = _check_reply(step, reply.text)
        while problems and repairs < step.repair_attempts:
            repairs += 1
            activity.logger.info(
                "%s: repair %d of %d: %s", step.id, repairs, step.repair_attempts, problems
            )
            turn = _repair_turn(turn, reply.text, problems)
            reply, spent = await self._chat(provider, turn, request.offline)
            usage = usage + spent
            output, problems = _check_reply(step, reply.text)
        if problems:
            after = f" after {repairs} repair turn{'s' if repairs != 1 else ''}" if repairs else ""
            quoted = reply.text[:_QUOTED_REPLY_CHARS] + (
                "…" if len(reply.text) > _QUOTED_REPLY_CHARS else ""
            )
            raise step_failure(
                f"step `{step.id}`: the model's reply is still not the JSON asked for{after}: "
                + "; ".join(problems)
                + f"; last reply: {quoted!r}",
                type=ERROR_INVALID_MODEL_OUTPUT,
                usage=usage,
            )
        metadata = {**reply.metadata, "finish_reason": reply.finish_reason}
        return StepOutcome(
            output=output,
            extras=[reply.model, usage.input_tokens + usage.output_tokens, metadata],
            usage=usage,
            attempt=activity.info().attempt,
            repairs=repairs,
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
                usage = priced_usage(
                    self._providers,
                    result.model,
                    result.input_tokens,
                    0,
                    offline,
                    read="".join(batch),
                )
                call.answered(result.model, usage)
            vectors.extend(result.vectors)
            spent = spent + usage
            model = result.model
            activity.heartbeat(start)
        return vectors, spent, model

    @activity.defn(name=ACTIVITY_EMBED)
    @cached("embed", StepOutcome)
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

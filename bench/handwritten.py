"""Hand-written Temporal workflows equivalent to the benchmark's `DagWorkflow` runs.

Written the way a developer who knows Temporal writes them, with nothing the interpreter
does for speed: one ``workflow.execute_activity`` per step, sequential awaits and
``asyncio.gather`` for independent steps, Python string formatting instead of templates,
the default workflow sandbox with the activity payload models imported through
``workflow.unsafe.imports_passed_through()`` (as Temporal's samples do). They call the
same activities with the same arguments, timeouts and retry policies as `DagWorkflow`
does for the matching definition in ``bench/bench_interpreter.py``; the benchmark checks
that on every run it verifies (activity type, input, timeouts and retry policy of every
scheduled activity). Transforms are activities here, as any other step.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from interpreter.contract import StepOutcome
    from interpreter.steps.action import ActionCall, ActionRequest
    from interpreter.steps.embed import EmbedCall, EmbedRequest
    from interpreter.steps.llm import LlmCall, LlmRequest, ResponseSchema
    from interpreter.steps.transform import TransformCall, TransformRequest
    from interpreter.steps.vector_search import VectorSearchCall, VectorSearchRequest

__all__ = [
    "HANDWRITTEN",
    "HandChain",
    "HandFanOut",
    "HandModeration",
    "HandRag",
    "HandSentiment",
    "HandTransforms",
    "HandWaiter",
]

# What `DagWorkflow` applies when a file says nothing (interpreter/defaults.py), spelled out
# as a developer would.
TIMEOUT = timedelta(seconds=300)
HEARTBEAT = timedelta(seconds=15)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=3,
)


async def _step(
    name: str,
    request: Any,
    *,
    timeout: timedelta = TIMEOUT,
    retry: RetryPolicy = RETRY,
    heartbeat: timedelta | None = HEARTBEAT,
) -> Any:
    """One built-in step activity; its result is the step's output."""
    outcome: StepOutcome = await workflow.execute_activity(
        name,
        request,
        result_type=StepOutcome,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=retry,
    )
    return outcome.output


async def _transform(step_id: str, function: str, inputs: Any, **params: Any) -> Any:
    request = TransformRequest(
        step=TransformCall(id=step_id, function=function, inputs=inputs, params=params)
    )
    return await _step("step_transform", request, heartbeat=None)


async def _action(step_id: str, action: str, **params: Any) -> Any:
    info = workflow.info()
    request = ActionRequest(
        step=ActionCall(id=step_id, action=action, params=params),
        workflow_id=info.workflow_id,
        run_id=info.run_id,
    )
    return await _step("step_action", request)


async def _custom(name: str, params: dict[str, Any]) -> Any:
    """A custom activity of the worker (what `action: <name>` calls)."""
    return await workflow.execute_activity(
        name, params, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
    )


@workflow.defn
class HandChain:
    """Three no-op activities in a row (the `chain3` definition)."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        a = await _custom("bench_echo", {"text": args["text"]})
        b = await _custom("bench_echo", {"text": f"{a['text']}!"})
        c = await _custom("bench_echo", {"text": b["text"].upper()})
        return {"result": c["text"]}


@workflow.defn
class HandFanOut:
    """``width`` sleeping activities at once (the `fanout` definitions)."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        results = await asyncio.gather(
            *(_custom("bench_sleep", {"ms": args["ms"], "i": i}) for i in range(int(args["width"])))
        )
        return {"count": len(results)}


@workflow.defn
class HandSentiment:
    """examples/sentiment-analysis.yaml."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        text, offline = args["text"], args["offline"]
        timeout = timedelta(seconds=60)
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_attempts=4
        )
        sentiment = await _step(
            "step_llm",
            LlmRequest(
                step=LlmCall(
                    id="extract_sentiment",
                    provider="openai",
                    model="gpt-4o-mini",
                    system="You are a precise sentiment classifier.",
                    prompt=f"Analyse the sentiment of the following text:\n{text}\n\n"
                    "Return only one word: positive, negative, or neutral\n",
                    temperature=0,
                    max_tokens=5,
                    mock_response="positive",
                ),
                offline=offline,
            ),
            timeout=timeout,
            retry=retry,
        )
        sentiment = sentiment.strip()
        response = await _step(
            "step_llm",
            LlmRequest(
                step=LlmCall(
                    id="generate_response",
                    provider="anthropic",
                    model="claude-3-5-haiku-latest",
                    prompt=f"The user's message has {sentiment} sentiment.\n"
                    f"Write a short, empathetic and helpful reply to:\n{text}\n",
                    temperature=0.7,
                    max_tokens=200,
                ),
                offline=offline,
            ),
            timeout=timeout,
            retry=retry,
        )
        info = workflow.info()
        await _step(
            "step_action",
            ActionRequest(
                step=ActionCall(
                    id="log_result",
                    action="log",
                    params={"message": f"Sentiment: {sentiment}; reply: {response}"},
                ),
                workflow_id=info.workflow_id,
                run_id=info.run_id,
            ),
            timeout=timeout,
            retry=retry,
        )
        return {"sentiment": sentiment, "response": response}


MODERATION_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["safe", "review", "block"]}},
    "required": ["label"],
    "additionalProperties": False,
}


@workflow.defn
class HandModeration:
    """examples/content-moderation.yaml: classify, then publish, review or block."""

    def __init__(self) -> None:
        self._decision: dict[str, Any] | None = None

    @workflow.signal
    def approve(self, decision: dict[str, Any]) -> None:
        self._decision = decision

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        content, author = args["content"], args.get("author", "anonymous")
        classification = await _step(
            "step_llm",
            LlmRequest(
                step=LlmCall(
                    id="classify",
                    provider="openai",
                    model="gpt-4o-mini",
                    prompt="Classify this content as safe (publish it), review (a person "
                    "should look) or\nblock (it must not be published).\n\n"
                    f"Content: {content}\n",
                    temperature=0,
                    max_tokens=20,
                    response_format=ResponseSchema(json_schema=MODERATION_SCHEMA),
                    mock_response={"label": "safe"},
                ),
                offline=args["offline"],
            ),
        )
        label = str(classification["label"]).strip()
        if label == "safe":
            await _action("publish", "publish", content=content, author=author)
        elif label == "block":
            reason = await _step(
                "step_llm",
                LlmRequest(
                    step=LlmCall(
                        id="explain_block",
                        provider="anthropic",
                        model="claude-3-5-haiku-latest",
                        prompt="Politely explain why this content cannot be published, and "
                        f"suggest how to rephrase it:\n{content}\n",
                        max_tokens=150,
                    ),
                    offline=args["offline"],
                ),
            )
            await _action("notify_author", "send_notification", to=author, message=reason)
        else:
            label = "review" if label == "review" else "default"
            await _action("queue_for_review", "queue_review", content=content, priority="medium")
            await workflow.wait_condition(
                lambda: self._decision is not None, timeout=timedelta(hours=24)
            )
            if self._decision and self._decision.get("approved"):
                await _action(
                    "publish_reviewed",
                    "publish",
                    content=content,
                    author=author,
                    reviewed_by=self._decision.get("by"),
                )
        await _action(
            "record_decision", "log", message=f"moderation of content by {author}: {label}"
        )
        return {"decision": label}


@workflow.defn
class HandRag:
    """examples/rag-pipeline.yaml: embed, search, then answer and cite at the same time."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        question, offline = args["question"], args["offline"]
        vector = await _step(
            "step_embed",
            EmbedRequest(
                step=EmbedCall(
                    id="embed_query",
                    provider="openai",
                    model="text-embedding-3-small",
                    input=question,
                ),
                offline=offline,
            ),
        )
        results = await _step(
            "step_vector_search",
            VectorSearchRequest(
                step=VectorSearchCall(
                    id="search_docs",
                    database="local",
                    index="docs",
                    query=vector,
                    top_k=3,
                    include_metadata=True,
                    embedder="openai/text-embedding-3-small",
                ),
                offline=offline,
            ),
        )
        context = "".join(
            f"\n[{n}] ({hit.get('metadata', {}).get('source', hit['id'])}) {hit['text']}\n"
            for n, hit in enumerate(results, start=1)
        )
        answer, citations = await asyncio.gather(
            _step(
                "step_llm",
                LlmRequest(
                    step=LlmCall(
                        id="generate_answer",
                        provider="openai",
                        model="gpt-4o-mini",
                        system="Answer only from the context. Cite sources as [n] using the "
                        "numbers given.",
                        prompt=f"Context:\n{context}\n\nQuestion: {question}\n",
                        temperature=0.2,
                        max_tokens=400,
                    ),
                    offline=offline,
                ),
            ),
            _transform(
                "cite",
                "pick",
                results,
                fields=["metadata.source", "metadata.chunk", "score", "id"],
            ),
        )
        return {"answer": answer, "citations": citations}


@workflow.defn
class HandTransforms:
    """bench/transforms-pipeline.yaml: a model, three transforms, a model."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        text, offline = args["text"], args["offline"]
        extracted = await _step(
            "step_llm",
            LlmRequest(
                step=LlmCall(
                    id="extract_topics",
                    provider="openai",
                    model="gpt-4o-mini",
                    prompt=f"List the topics of this ticket as JSON: {text}",
                    temperature=0,
                    max_tokens=100,
                    response_format="json",
                    mock_response={"topics": ["login", "export", "billing", "export", "login"]},
                ),
                offline=offline,
            ),
        )
        topics = await _transform("unique_topics", "unique", extracted["topics"])
        topics = await _transform("sorted_topics", "sort", topics)
        listed = await _transform("topic_list", "join", topics, separator=", ")
        summary = await _step(
            "step_llm",
            LlmRequest(
                step=LlmCall(
                    id="summarise",
                    provider="anthropic",
                    model="claude-3-5-haiku-latest",
                    prompt=f"Write one sentence for the support lead about these topics: {listed}",
                    max_tokens=80,
                ),
                offline=offline,
            ),
        )
        return {"topics": listed, "summary": summary}


@workflow.defn
class HandWaiter:
    """Waits for the ``release`` signal (the `waiting` definition's `wait` step)."""

    def __init__(self) -> None:
        self._released: list[Any] = []

    @workflow.signal
    def release(self, payload: Any) -> None:
        self._released.append(payload)

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        await workflow.wait_condition(lambda: bool(self._released))
        return {"released": self._released[0]}


HANDWRITTEN = [
    HandChain,
    HandFanOut,
    HandSentiment,
    HandModeration,
    HandRag,
    HandTransforms,
    HandWaiter,
]

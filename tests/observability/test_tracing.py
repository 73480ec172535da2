"""Traces of real runs: one trace per run, a span per step, a GenAI span per provider call."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from activities import ActivitySettings
from activities.settings import CAPTURE_CONTENT_ENV
from interpreter.contract import RunResult
from tests.conftest import EXAMPLES
from tests.fakes.vendors import Answer, FakeVendor, anthropic_stream, openai_chat
from tests.helpers.providers import CHAT, MESSAGES, config_for
from tests.helpers.runs import run_to_end

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEFINITION: dict[str, Any] = {
    "name": "traced",
    "steps": [
        {
            "id": "classify",
            "type": "llm",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "system": "You classify.",
            "prompt": "Classify: {{ inputs.text }}",
            "temperature": 0,
            "max_tokens": 5,
        },
        {
            "id": "reply",
            "type": "llm",
            "depends_on": ["classify"],
            "provider": "anthropic",
            "model": "claude-3-5-haiku-latest",
            "prompt": "Reply to: {{ inputs.text }}",
            "stream": True,
        },
        {
            "id": "vectors",
            "type": "embed",
            "provider": "openai",
            "model": "text-embedding-3-small",
            "input": ["a", "b", "c"],
            "batch_size": 2,
        },
        {
            "id": "shape",
            "type": "transform",
            "depends_on": ["reply", "vectors"],
            "template": "{{ steps.classify.output }}",
        },
    ],
    "outputs": {"label": "{{ steps.shape.output }}"},
}


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def traced_run(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    provider: TracerProvider,
    definition: dict[str, Any],
    settings: ActivitySettings | None = None,
) -> RunResult:
    # what `observability.setup` does with a real exporter: the interceptor on the client
    config = client.config()
    config["interceptors"] = [TracingInterceptor(provider.get_tracer("test"))]
    traced = Client(**config)
    async with worker_for(
        settings=settings, config=config_for(fake), client=traced, tracer_provider=provider
    ):
        return await run_to_end(
            traced, task_queue, {"definition": definition, "inputs": {"text": "I love it"}}
        )


def by_name(finished: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name.startswith(prefix)]


def parent_of(span: ReadableSpan, finished: tuple[ReadableSpan, ...]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    (parent,) = [s for s in finished if s.context.span_id == span.parent.span_id]
    return parent


@pytest.mark.usefixtures("keys")
async def test_one_trace_per_run_with_step_spans_and_genai_provider_spans(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    fake.then(
        CHAT,
        Answer(body=openai_chat("positive", prompt_tokens=21, completion_tokens=2)),
    )
    fake.then(MESSAGES, Answer(sse=anthropic_stream(["Glad ", "to hear"], input_tokens=33)))
    result = await traced_run(client, task_queue, worker_for, fake, provider, DEFINITION)
    assert result.outputs == {"label": "positive"}
    finished = exporter.get_finished_spans()

    # one trace: the client's StartWorkflow span is its root, every span shares its id
    (root,) = by_name(finished, "StartWorkflow:DagWorkflow")
    assert root.parent is None
    assert {s.context.trace_id for s in finished} == {root.context.trace_id}
    assert by_name(finished, "RunWorkflow:DagWorkflow")

    # one span per step activity, under the SDK's RunActivity span (the transform is
    # computed in the workflow: it has no activity, so no span of its own)
    steps = {s.attributes["llm_orchestrator.step.id"]: s for s in by_name(finished, "step ")}
    assert set(steps) == {"classify", "reply", "vectors"}
    assert result.steps["shape"].reason == "in workflow"
    for step_id, span in steps.items():
        assert span.name == f"step {step_id}"
        assert parent_of(span, finished).name.startswith("RunActivity:step_")
        assert span.attributes["llm_orchestrator.step.attempt"] == 1
    assert steps["vectors"].attributes["llm_orchestrator.step.type"] == "embed"

    # a child span per provider call, with the GenAI attributes and the vendor's counts
    calls = [s for s in finished if "gen_ai.operation.name" in (s.attributes or {})]
    assert sorted(s.name for s in calls) == [
        "chat claude-3-5-haiku-latest",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
        "embeddings text-embedding-3-small",  # batch_size 2 over 3 inputs: two calls
    ]
    for call in calls:
        assert parent_of(call, finished) is steps[call.attributes["llm_orchestrator.step.id"]]
        assert call.kind.name == "CLIENT"
        assert call.attributes["server.address"] == "127.0.0.1"

    (openai,) = by_name(calls, "chat gpt-4o-mini")
    assert openai.attributes["gen_ai.system"] == "openai"
    assert openai.attributes["gen_ai.operation.name"] == "chat"
    assert openai.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert openai.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert openai.attributes["gen_ai.usage.input_tokens"] == 21
    assert openai.attributes["gen_ai.usage.output_tokens"] == 2
    assert openai.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert openai.attributes["gen_ai.request.temperature"] == 0
    assert openai.attributes["gen_ai.request.max_tokens"] == 5
    assert openai.attributes["llm_orchestrator.cost_usd"] > 0

    (claude,) = by_name(calls, "chat claude")
    assert claude.attributes["gen_ai.system"] == "anthropic"
    assert claude.attributes["gen_ai.usage.input_tokens"] == 33
    assert claude.attributes["gen_ai.usage.output_tokens"] == 6
    assert claude.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)

    embeds = by_name(calls, "embeddings")
    assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in embeds) == [3, 6]

    # prompts and replies stay out of traces unless asked for
    for span in finished:
        assert not any(k.startswith(("gen_ai.input", "gen_ai.output")) for k in span.attributes)
        assert "I love it" not in json.dumps(dict(span.attributes or {}), default=str)


@pytest.mark.usefixtures("keys")
async def test_message_content_is_recorded_only_when_enabled(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    # the worker reads the standard variable once, at start, with its other settings
    env = {**os.environ, CAPTURE_CONTENT_ENV: "true"}
    settings = ActivitySettings.from_env(env, catalog_dir=EXAMPLES)
    provider, exporter = spans
    definition = {"name": "one", "steps": [DEFINITION["steps"][0]]}
    await traced_run(client, task_queue, worker_for, fake, provider, definition, settings)
    (call,) = by_name(exporter.get_finished_spans(), "chat gpt-4o-mini")
    messages = json.loads(str(call.attributes["gen_ai.input.messages"]))
    assert messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Classify: I love it"}]}
    ]
    assert json.loads(str(call.attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "You classify."}
    ]
    output = json.loads(str(call.attributes["gen_ai.output.messages"]))
    assert output[0]["parts"][0]["content"] == "positive"
    assert output[0]["finish_reason"] == "stop"


@pytest.mark.usefixtures("keys")
async def test_a_failed_provider_call_is_an_error_span_with_the_status(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    fake.then(CHAT, Answer(status=500, body={"error": {"message": "boom"}}))
    step = {**DEFINITION["steps"][0], "retry": {"max_attempts": 2, "initial_interval": "100ms"}}
    await traced_run(
        client, task_queue, worker_for, fake, provider, {"name": "retry", "steps": [step]}
    )
    finished = exporter.get_finished_spans()
    failed, succeeded = sorted(
        by_name(finished, "chat gpt-4o-mini"), key=lambda s: s.start_time or 0
    )
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["error.type"] == "500"
    assert succeeded.status.status_code.name != "ERROR"
    attempts = sorted(
        s.attributes["llm_orchestrator.step.attempt"] for s in by_name(finished, "step classify")
    )
    assert attempts == [1, 2]
    # both attempts belong to the run's one trace
    assert len({s.context.trace_id for s in finished}) == 1

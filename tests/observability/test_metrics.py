"""Our step and provider metrics on the worker's Prometheus endpoint, beside the SDK's."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client

from activities.providers.config import ProviderSettings
from activities.providers.prices import cost_usd
from interpreter.errors import OrchestratorError
from llm_orchestrator.connect import connect
from llm_orchestrator.observability import parse_bind, worker_runtime
from tests.fakes.vendors import Answer, FakeVendor, openai_chat
from tests.helpers.net import free_port
from tests.helpers.providers import CHAT, OPENAI_KEY, config_for
from tests.helpers.runs import run_to_end
from tests.observability.conftest import scrape, value

FAST_RETRY = {"max_attempts": 2, "initial_interval": "100ms", "jitter": False}


@pytest.mark.asyncio(loop_scope="session")
async def test_step_token_cost_retry_breaker_and_rate_limit_series(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    config = config_for(fake, requests_per_minute=600)
    flaky = ProviderSettings(
        kind="openai",
        base_url=f"{fake.url}/v1",
        api_key_env="OPENAI_API_KEY",
        http2=False,
        breaker_failures=1,
        breaker_cooldown=600,
    )
    config = config.model_copy(update={"providers": {**config.providers, "flaky": flaky}})
    # ask: 500 then an answer (one retry); risky: 500 once, which opens flaky's breaker
    fake.then(
        CHAT,
        Answer(status=500, body={"error": {"message": "boom"}}),
        Answer(body=openai_chat("positive", prompt_tokens=12, completion_tokens=5)),
        Answer(status=500, body={"error": {"message": "boom again"}}),
    )
    definition: dict[str, Any] = {
        "name": "metered",
        "steps": [
            {"id": "ask", "type": "llm", "provider": "openai", "model": "gpt-4o-mini",
             "prompt": "hi", "retry": FAST_RETRY},
            {"id": "risky", "type": "llm", "provider": "flaky", "model": "gpt-4o-mini",
             "prompt": "hi", "depends_on": ["ask"], "retry": {"max_attempts": 1},
             "continue_on_error": True},
            {"id": "shape", "type": "transform", "depends_on": ["ask"],
             "template": "{{ steps.ask.output }}"},
        ],
    }  # fmt: skip
    port = free_port()
    metered = await connect(
        client.service_client.config.target_host, runtime=worker_runtime(f"127.0.0.1:{port}")
    )
    async with worker_for(config=config, client=metered):
        result = await run_to_end(metered, task_queue, {"definition": definition})
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert result.steps["risky"].status == "failed"

    mine = {"task_queue": task_queue}
    duration = "llm_orchestrator_step_duration_seconds_count"
    llm = {**mine, "step_type": "llm", "provider": "openai", "model": "gpt-4o-mini"}
    assert value(samples, duration, **llm, status="failed") == 1
    assert value(samples, duration, **llm, status="completed") == 1
    # the transform is computed in the workflow: no activity, so no step series of its own
    assert result.steps["shape"].reason == "in workflow"
    assert not [ls for n, ls, _ in samples if n == duration and ls.get("step_type") == "transform"]
    assert value(samples, duration, **mine, provider="flaky", status="failed") == 1
    assert value(samples, "llm_orchestrator_step_retries_total", **llm) == 1

    tokens = "llm_orchestrator_tokens_total"
    assert value(samples, tokens, **mine, provider="openai", type="input") == 12
    assert value(samples, tokens, **mine, provider="openai", type="output") == 5
    price = config.price("gpt-4o-mini")
    assert price is not None
    assert value(samples, "llm_orchestrator_cost_usd_sum", **mine, provider="openai") == (
        pytest.approx(cost_usd(price, 12, 5))
    )

    calls = "llm_orchestrator_provider_call_duration_seconds_count"
    assert value(samples, calls, **mine, provider="openai", outcome="error") == 1
    assert value(samples, calls, **mine, provider="openai", outcome="ok") == 1
    # every call passed the rate limiter (600/min: no wait, but observed)
    assert value(samples, "llm_orchestrator_rate_limit_wait_seconds_count", provider="openai") == 2

    breaker = "llm_orchestrator_breaker_state"
    assert value(samples, breaker, **mine, provider="flaky") == 2  # open
    assert value(samples, breaker, **mine, provider="openai") == 0  # closed

    # the SDK's own metrics come from the same endpoint
    assert value(samples, "temporal_workflow_completed", task_queue=task_queue) == 1
    assert (
        value(
            samples,
            "temporal_activity_execution_failed",
            task_queue=task_queue,
            activity_type="step_llm",
        )
        == 2
    )


def test_metrics_bind_is_checked() -> None:
    assert parse_bind(":9464") == "0.0.0.0:9464"
    assert parse_bind("127.0.0.1:9464") == "127.0.0.1:9464"
    for bad in ("9464", "localhost:http", "127.0.0.1:70000"):
        with pytest.raises(OrchestratorError, match="HOST:PORT"):
            parse_bind(bad)


def test_a_busy_metrics_port_is_reported_clearly() -> None:
    port = free_port()
    runtime = worker_runtime(f"127.0.0.1:{port}")
    with pytest.raises(OrchestratorError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
        worker_runtime(f"127.0.0.1:{port}")
    del runtime

"""Provider behaviour that needs the hand-written vendor fake, through real runs on Temporal.

The faults LLMock can produce are tested against it in test_provider_faults.py;
these need what only the fake does (see :class:`tests.fakes.vendors.FakeVendor`):
a 200 answer that is not JSON, exact usage figures, request headers, and a steady
storm of mixed faults including dropped non-streamed connections.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from interpreter.contract import QUERY_PROGRESS, Progress
from tests.fakes.vendors import Answer, FakeVendor, anthropic_message, openai_chat
from tests.helpers.providers import (
    ANTHROPIC_KEY,
    CHAT,
    MESSAGES,
    OPENAI_KEY,
    config_for,
    one_step,
)
from tests.helpers.runs import outcome, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.usefixtures("keys")
async def test_a_body_that_is_not_json_is_retried(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(raw=b"<html>502 Bad Gateway</html>"))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step()})
        )
    assert error is None and result is not None
    assert len(fake.requests(CHAT)) == 2


@pytest.mark.usefixtures("keys")
async def test_usage_and_cost_totals_match_the_vendor_usage_fields(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(body=openai_chat("a", prompt_tokens=1000, completion_tokens=200)))
    fake.then(MESSAGES, Answer(body=anthropic_message("b", input_tokens=3000, output_tokens=500)))
    definition = yaml.safe_load(
        """
name: costs
steps:
  - {id: one, type: llm, provider: openai, model: gpt-4o-mini, prompt: x}
  - {id: two, type: llm, provider: anthropic, model: claude-3-5-haiku-latest, prompt: y}
  - {id: vec, type: embed, provider: openai, model: text-embedding-3-small, input: [a, b]}
"""
    )
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": definition})
        )
    assert error is None and result is not None
    expected_one = (1000 * 0.15 + 200 * 0.60) / 1e6
    expected_two = (3000 * 0.80 + 500 * 4.00) / 1e6
    expected_vec = (6 * 0.02) / 1e6
    steps = result.steps
    assert steps["one"].usage is not None and steps["two"].usage is not None
    assert steps["one"].usage.cost_usd == pytest.approx(expected_one)
    assert steps["two"].usage.cost_usd == pytest.approx(expected_two)
    assert result.usage.input_tokens == 1000 + 3000 + 6
    assert result.usage.output_tokens == 200 + 500
    assert result.usage.cost_usd == pytest.approx(expected_one + expected_two + expected_vec)
    assert len(result.steps["vec"].output) == 2
    # each vendor's own auth and version headers (LLMock's journal keeps no headers)
    (chat,) = fake.requests(CHAT)
    assert chat.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    (message,) = fake.requests(MESSAGES)
    assert message.headers["x-api-key"] == ANTHROPIC_KEY
    assert message.headers["anthropic-version"] == "2023-06-01"


@pytest.mark.usefixtures("keys")
async def test_a_budget_stops_the_run_before_its_second_model_step(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(body=openai_chat("a", prompt_tokens=1000, completion_tokens=200)))
    definition = yaml.safe_load(
        """
name: budgeted
budget: {max_usd: 0.0001}
steps:
  - {id: first, type: llm, provider: openai, model: gpt-4o-mini, prompt: x}
  - {id: shape, type: transform, depends_on: [first], template: "{{ steps.first.output }}"}
  - {id: second, type: llm, provider: openai, model: gpt-4o-mini, prompt: y, depends_on: [shape]}
"""
    )
    async with worker_for(config=config_for(fake)):
        handle = await start_run(client, task_queue, {"definition": definition})
        result, error = await outcome(handle)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert result is None and error is not None
    assert "budget exceeded before step `second`" in error
    assert "budget.max_usd $0.0001" in error
    assert "$0.000270" in error
    assert len(fake.requests(CHAT)) == 1
    assert progress.steps["shape"].status == "completed"
    assert progress.steps["second"].status == "skipped"


@pytest.mark.usefixtures("keys")
@pytest.mark.timeout(300)  # 50 runs through a storm: up to 240 s on a busy machine
async def test_fault_storm_50_concurrent_runs_complete_and_open_breakers_send_nothing(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.storm = True
    doc = yaml.safe_load(
        (Path(__file__).parents[2] / "examples/sentiment-analysis.yaml").read_text()
    )
    doc["defaults"]["retry"] = {"max_attempts": 30, "initial_interval": "100ms",
                                "max_interval": "1s"}  # fmt: skip
    config = config_for(fake, breaker_failures=2, breaker_cooldown=0.2)
    async with worker_for(config=config) as activities:
        handles = [
            await start_run(
                client, task_queue, {"definition": doc, "inputs": {"text": f"message {i}"}}
            )
            for i in range(50)
        ]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 240)
        endpoints = dict(activities.providers.endpoints)
    assert len(results) == 50
    assert all(r.outputs["sentiment"] == "positive" for r in results)
    retried = sum(
        r.steps[s].attempts > 1 for r in results for s in ("extract_sentiment", "generate_response")
    )
    assert retried > 0
    opened = 0
    for endpoint in endpoints.values():
        opened += len(endpoint.breaker.opened)
        for start_open, probe_from in endpoint.breaker.opened:
            # nothing may be *sent* while the breaker is open (the probe comes at probe_from)
            assert not [t for t in endpoint.last_sent if start_open < t < probe_from - 0.001]
    assert opened > 0
    assert len(fake.requests()) == sum(e.requests_sent for e in endpoints.values())

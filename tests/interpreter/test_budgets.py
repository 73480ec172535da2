"""Budgets that bite: a run's and a step's `budget`, `on_exceed: fail | pause`, through
real runs on the Temporal dev server against the loopback vendor fake (each chat
answer reports 12 prompt + 5 completion tokens: 17 tokens a call).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowUpdateFailedError

from interpreter.contract import QUERY_PROGRESS, UPDATE_APPROVE, Decision, Progress
from tests.fakes.vendors import FakeVendor
from tests.helpers.providers import CHAT, MESSAGES, config_for
from tests.helpers.runs import outcome, start_run
from tests.interpreter.test_agent import agent, run_input

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("keys")]

TWO_STEPS = """
name: run-budget
budget: {max_tokens: 10, on_exceed: pause}
steps:
  - {id: first, type: llm, provider: openai, model: gpt-4o-mini, prompt: x}
  - {id: second, type: llm, provider: openai, model: gpt-4o-mini, prompt: y, depends_on: [first]}
outputs: {answer: "{{ steps.second.output }}"}
"""

LOOPED = """
name: step-budget
steps:
  - id: ask
    type: loop
    max_iterations: 4
    budget: {max_tokens: 20, on_exceed: %s}
    steps:
      - {id: turn, type: llm, provider: openai, model: gpt-4o-mini, prompt: "turn {{ loop.index }}"}
"""


async def _paused(handle: Any) -> Progress:
    for _ in range(300):
        progress: Progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        if progress.waiting:
            return progress
        await asyncio.sleep(0.1)
    raise AssertionError("the run never paused")


async def test_a_run_budget_pause_waits_and_an_approved_raise_lets_it_complete(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    async with worker_for(config=config_for(fake)):
        handle = await start_run(client, task_queue, {"definition": yaml.safe_load(TWO_STEPS)})
        progress = await _paused(handle)
        (waiting,) = progress.waiting
        assert waiting.step == "second" and waiting.kind == "approval"
        assert waiting.message is not None
        assert "budget exceeded (the run's budget: used 17 tokens of budget.max_tokens 10)" in (
            waiting.message
        )
        assert "approve with a new limit" in waiting.message
        command = f"llm-orchestrator approve {handle.id} second --data '{{\"max_tokens\": 34}}'"
        assert command in waiting.message
        # the Web UI's details of the run say the same
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert f"**`second` is paused:** {waiting.message}" in metadata.current_details
        assert len(fake.requests(CHAT)) == 1  # the second call waits
        # a limit not above what is spent is refused by the Update's validator
        with pytest.raises(WorkflowUpdateFailedError) as low:
            await handle.execute_update(
                UPDATE_APPROVE, Decision(step="second", approved=True, data={"max_tokens": 17})
            )
        assert "the new `max_tokens` 17 is not above what is spent (17 tokens)" in str(
            low.value.cause
        )
        with pytest.raises(WorkflowUpdateFailedError) as empty:
            await handle.execute_update(UPDATE_APPROVE, Decision(step="second", approved=True))
        assert "needs a new limit in `data`" in str(empty.value.cause)
        await handle.execute_update(
            UPDATE_APPROVE, Decision(step="second", approved=True, data={"max_tokens": 100})
        )
        result, error = await outcome(handle)
    assert error is None and result is not None
    assert result.steps["second"].status == "completed"
    assert result.usage.input_tokens + result.usage.output_tokens == 34
    assert len(fake.requests(CHAT)) == 2


async def test_a_run_budget_fail_stops_the_run_as_before(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    definition = yaml.safe_load(TWO_STEPS.replace("on_exceed: pause", "on_exceed: fail"))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": definition})
        )
    assert result is None and error is not None
    assert "budget exceeded before step `second`: used 17 tokens of budget.max_tokens 10" in error
    assert len(fake.requests(CHAT)) == 1


async def test_a_step_budget_pause_rejected_fails_the_step(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    async with worker_for(config=config_for(fake)):
        handle = await start_run(
            client, task_queue, {"definition": yaml.safe_load(LOOPED % "pause")}
        )
        progress = await _paused(handle)
        (waiting,) = progress.waiting
        assert waiting.step == "ask"
        assert waiting.message is not None
        assert "the step's budget: used 34 tokens of step budget.max_tokens 20" in waiting.message
        assert len(fake.requests(CHAT)) == 2  # two iterations ran, the third waits
        await handle.execute_update(
            UPDATE_APPROVE, Decision(step="ask", approved=False, by="ana", comment="too dear")
        )
        result, error = await outcome(handle)
    assert result is None and error is not None
    assert "step `ask` failed: the step's budget exceeded: used 34 tokens" in error
    assert "a raised limit was rejected by ana: too dear" in error
    assert len(fake.requests(CHAT)) == 2


async def test_a_step_budget_pause_approved_goes_on_under_the_new_limit(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    async with worker_for(config=config_for(fake)):
        handle = await start_run(
            client, task_queue, {"definition": yaml.safe_load(LOOPED % "pause")}
        )
        await _paused(handle)
        await handle.execute_update(
            UPDATE_APPROVE, Decision(step="ask", approved=True, data={"max_tokens": 60})
        )
        # 51 tokens after the third iteration: within 60, so the fourth runs too
        result, error = await outcome(handle)
    assert error is None and result is not None
    assert result.steps["ask"].output["iterations"] == 4
    assert len(fake.requests(CHAT)) == 4


async def test_a_step_budget_fail_fails_the_step_naming_spent_and_limit(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": yaml.safe_load(LOOPED % "fail")})
        )
    assert result is None and error is not None
    assert (
        "step `ask` failed: the step's budget exceeded before its next body run: "
        "used 34 tokens of step budget.max_tokens 20 (on_exceed: fail)"
    ) in error
    assert len(fake.requests(CHAT)) == 2


async def test_an_llm_step_budget_is_checked_before_each_fallback_entry(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    # the fake answers `positive`, never JSON: the primary spends its 3 turns (1 + 2
    # repairs, 51 tokens) and fails; its fallback would be next, but the step is over
    definition = yaml.safe_load(
        """
name: llm-budget
steps:
  - id: ask
    type: llm
    provider: openai
    model: gpt-4o-mini
    prompt: "a JSON object please"
    response_format: json
    retry: {max_attempts: 1}
    fallback: [{provider: anthropic, model: claude-3-5-haiku-latest}]
    fallback_on: any
    budget: {max_tokens: 40}
"""
    )
    async with worker_for(config=config_for(fake)):
        handle = await start_run(client, task_queue, {"definition": definition})
        result, error = await outcome(handle)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert result is None and error is not None
    assert (
        "the step's budget exceeded before its next model call: used 51 tokens of "
        "step budget.max_tokens 40 (on_exceed: fail)"
    ) in error
    assert len(fake.requests(CHAT)) == 3
    assert fake.requests(MESSAGES) == []  # the fallback never started
    usage = progress.steps["ask"].usage
    assert usage is not None and usage.input_tokens + usage.output_tokens == 51


async def test_a_map_budget_holds_back_the_next_batch_of_items(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    # 51 items: a batch of 50 (850 tokens), then one more batch, which the budget stops
    definition = yaml.safe_load(
        """
name: map-budget
steps:
  - id: each
    type: map
    items: "{{ range(51) | list }}"
    max_concurrency: 50
    budget: {max_tokens: 800}
    step: {type: llm, provider: openai, model: gpt-4o-mini, prompt: "item {{ item }}"}
"""
    )
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": definition})
        )
    assert result is None and error is not None
    assert (
        "step `each` failed: the step's budget exceeded before its next body run: "
        "used 850 tokens of step budget.max_tokens 800"
    ) in error
    assert len(fake.requests(CHAT)) == 50


async def test_an_agent_step_budget_pauses_before_its_next_turn(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    lookup = {"tool_calls": [{"name": "lookup-order", "arguments": {"order": "A-17"}}]}
    step = agent([lookup, lookup, {"text": "done"}], budget={"max_tokens": 5, "on_exceed": "pause"})
    async with worker_for():
        handle = await start_run(client, task_queue, run_input(step))
        progress = await _paused(handle)
        (waiting,) = progress.waiting
        assert waiting.step == "support"
        assert waiting.message is not None
        assert "budget exceeded (the step's budget: used " in waiting.message
        spent = progress.steps["support"].usage
        assert spent is None  # a running step's turns are not recorded yet
        await handle.execute_update(
            UPDATE_APPROVE, Decision(step="support", approved=True, data={"max_tokens": 10**6})
        )
        result, error = await outcome(handle)
    assert error is None and result is not None
    assert result.outputs == {"answer": "done", "turns": 3}

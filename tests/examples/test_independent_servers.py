"""Every example runs against independent OpenAI- and Anthropic-compatible servers.

The servers are LLMock (a PyPI project we did not write) on loopback; the worker is
pointed at them exactly as a user would point it at another endpoint: base URLs and
keys in the environment, nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from llmock.pytest_plugin import LLMock
from temporalio.client import Client

from activities.providers.config import load_worker_config
from tests.conftest import EXAMPLES
from tests.helpers.runs import run_to_end

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODEL_STEPS = ("llm", "embed", "agent")


def _model_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        if step.get("type") in MODEL_STEPS:
            out.append(step)
        out += _model_steps(step.get("steps") or [])
        for items in (step.get("branches") or {}).values():
            out += _model_steps([i for i in items if isinstance(i, dict)])
    return out


EXAMPLE_NAMES = sorted(
    p.stem
    for p in EXAMPLES.glob("*.yaml")
    # lookup-order, a tool of support-agent, calls no model of its own
    if _model_steps(yaml.safe_load(p.read_text())["steps"])
)


@pytest.fixture
def vendor_env(llmock: LLMock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llmock.base_url("openai"))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llmock.base_url("anthropic"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-independent")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-independent")


@pytest.mark.usefixtures("vendor_env")
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
async def test_example_runs_against_llmock(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, name: str
) -> None:
    doc = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    inputs = json.loads((EXAMPLES / f"{name}.input.json").read_text())
    async with worker_for(config=load_worker_config()):
        result = await run_to_end(client, task_queue, {"definition": doc, "inputs": inputs})
    model_steps = [
        r for r in result.steps.values() if r.type in MODEL_STEPS and r.status == "completed"
    ]
    assert model_steps, "every example calls at least one model"
    for record in model_steps:
        assert record.usage is not None and record.usage.input_tokens > 0
        assert not str(record.output).startswith("[offline")
    assert result.usage.cost_usd > 0
    served = llmock.requests
    ran = {r.id for r in model_steps}
    assert {r.provider for r in served} == {
        "anthropic" if s.get("provider") == "anthropic" else "openai"
        for s in _model_steps(doc["steps"])
        if s["id"] in ran
    }
    assert all(r.status == 200 for r in served)

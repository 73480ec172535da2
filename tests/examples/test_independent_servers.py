"""Every example runs against independent OpenAI- and Anthropic-compatible servers.

The servers are LLMock (a PyPI project we did not write) on loopback; the worker is
pointed at them exactly as a user would point it at another endpoint: base URLs and
keys in the environment, nothing else.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from llmock.testing import LLMockServer
from temporalio.client import Client

from activities.providers.config import load_worker_config
from interpreter.contract import WORKFLOW_TYPE, RunResult
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def llmock() -> Iterator[LLMockServer]:
    with LLMockServer() as server:
        yield server


@pytest.fixture
def vendor_env(llmock: LLMockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", llmock.base_url("openai"))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llmock.base_url("anthropic"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-independent")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-independent")


@pytest.mark.usefixtures("vendor_env")
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
async def test_example_runs_against_llmock(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMockServer, name: str
) -> None:
    doc = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    inputs = json.loads((EXAMPLES / f"{name}.input.json").read_text())
    before = len(llmock.state.journal.records())
    async with worker_for(config=load_worker_config()):
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            {"definition": doc, "inputs": inputs},
            id=f"{name}-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=RunResult,
        )
        result: RunResult = await asyncio.wait_for(handle.result(), timeout=60)
    model_steps = [
        r for r in result.steps.values() if r.type in ("llm", "embed") and r.status == "completed"
    ]
    assert model_steps, "every example calls at least one model"
    for record in model_steps:
        assert record.usage is not None and record.usage.input_tokens > 0
        assert not str(record.output).startswith("[offline")
    assert result.usage.cost_usd > 0
    served = llmock.state.journal.records()[before:]
    ran = {r.id for r in model_steps}
    assert {r.provider for r in served} == {
        "anthropic" if s.get("provider") == "anthropic" else "openai"
        for s in _model_steps(doc["steps"])
        if s["id"] in ran
    }
    assert all(r.status == 200 for r in served)


def _model_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        if step.get("type") in ("llm", "embed"):
            out.append(step)
        out += _model_steps(step.get("steps") or [])
        for items in (step.get("branches") or {}).values():
            out += _model_steps([i for i in items if isinstance(i, dict)])
    return out

"""Agent runs end to end against independent OpenAI- and Anthropic-compatible servers on
loopback that script tool calls: LLMock (PyPI) and aimock (npm, a Node process). The right
tool calls are made, their results reach the model in the vendor's wire format, and the
model's final answer is the step's output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llmock.pytest_plugin import LLMock
from temporalio.client import Client

from tests.conftest import WorkerFactory
from tests.helpers.aimock import aimock_server
from tests.helpers.providers import ANTHROPIC_KEY, OPENAI_KEY, config_for
from tests.helpers.runs import run_to_end, start_run
from tests.interpreter.test_agent import LOOKUP_ORDER

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}


@pytest.fixture
def vendor_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


def _run(provider: str, question: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "definition": {
            "name": "agent-on-a-server",
            "inputs": {"question": {"type": "string"}},
            "steps": [
                {
                    "id": "support",
                    "type": "agent",
                    "provider": provider,
                    "model": MODELS[provider],
                    "system": "You answer order questions. Use the tools.",
                    "prompt": "{{ inputs.question }}",
                    "max_turns": 4,
                    "stream": stream,
                    "tools": [{"workflow": "lookup-order"}],
                    "retry": {"max_attempts": 1},
                    "output": ["answer"],
                }
            ],
            "outputs": {"answer": "{{ steps.support.answer }}"},
        },
        "inputs": {"question": question},
        "library": {"lookup-order": LOOKUP_ORDER},
    }


def _tool_results(provider: str, body: dict[str, Any]) -> list[str]:
    """The tool results a request carried back to the model, in the vendor's format."""
    if provider == "openai":
        return [m["content"] for m in body["messages"] if m["role"] == "tool"]
    return [
        json.dumps(block.get("content"))
        for m in body["messages"]
        if isinstance(m["content"], list)
        for block in m["content"]
        if block.get("type") == "tool_result"
    ]


@pytest.mark.usefixtures("vendor_keys")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_agent_against_llmock(
    client: Client,
    task_queue: str,
    worker_for: WorkerFactory,
    llmock: LLMock,
    provider: str,
    stream: bool,
) -> None:
    llmock.tool_mode("off")  # only the scripted calls
    llmock.call_tool("lookup-order", {"order": "A-1001"}, provider=provider)
    llmock.reply("Order A-1001 has shipped.", provider=provider)
    async with worker_for(config=config_for(llmock)):
        result = await run_to_end(
            client, task_queue, _run(provider, "Where is A-1001?", stream=stream)
        )
    assert result.outputs["answer"] == "Order A-1001 has shipped."
    requests = [r for r in llmock.requests if r.provider == provider]
    assert len(requests) == 2 and all(r.status == 200 for r in requests)
    # the first turn offered the workflow tool with its declared inputs as parameters
    first = requests[0].body
    offered = json.dumps(first["tools"])
    assert "lookup-order" in offered and '"order"' in offered
    # the second turn carried the tool's result back
    results = _tool_results(provider, requests[1].body)
    assert len(results) == 1 and "shipped" in results[0] and "A-1001" in results[0]
    record = result.steps["support"]
    assert record.transcript is not None
    call = record.transcript["turns"][0]["tool_calls"][0]
    assert call["arguments"] == {"order": "A-1001"}
    assert call["result"] == {"order": "A-1001", "status": "shipped"}
    assert record.usage is not None and record.usage.input_tokens > 0


@pytest.fixture(scope="module")
def aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """aimock with a two-turn script: two lookups at once, then (tool results in) an answer."""
    calls = [
        {"name": "lookup-order", "arguments": {"order": "A-1001"}},
        {"name": "lookup-order", "arguments": {"order": "A-1002"}},
    ]
    script = [
        {"match": {"hasToolResult": True}, "response": {"content": "Both orders have shipped."}},
        {"match": {"userMessage": "A-1001 and A-1002"}, "response": {"toolCalls": calls}},
    ]
    with aimock_server(script, tmp_path_factory.mktemp("aimock")) as url:
        yield url


class _Aimock:
    def __init__(self, url: str) -> None:
        self.url = url

    def base_url(self, provider: str) -> str:
        return f"{self.url}/v1" if provider == "openai" else self.url


@pytest.mark.usefixtures("vendor_keys")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_parallel_tool_calls_against_aimock(
    client: Client, task_queue: str, worker_for: WorkerFactory, aimock: str, provider: str
) -> None:
    async with worker_for(config=config_for(_Aimock(aimock))):
        result = await run_to_end(
            client, task_queue, _run(provider, "Where are A-1001 and A-1002?")
        )
    assert result.outputs["answer"] == "Both orders have shipped."
    transcript = result.steps["support"].transcript
    assert transcript is not None
    assert len(transcript["turns"]) == 2
    calls = transcript["turns"][0]["tool_calls"]
    assert [c["arguments"] for c in calls] == [{"order": "A-1001"}, {"order": "A-1002"}]
    assert [c["result"]["order"] for c in calls] == ["A-1001", "A-1002"]
    told = [m for m in transcript["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in told] == [c["id"] for c in calls]


async def test_an_agent_turn_falls_back_to_the_next_model(
    client: Client, task_queue: str, worker_for: WorkerFactory, llmock: LLMock
) -> None:
    """OpenAI is down (HTTP 500): each turn moves on to Anthropic, which calls the tool and
    then answers; the transcript names who answered each turn and why OpenAI was left."""
    llmock.tool_mode("off")
    llmock.fail(500, times=None, provider="openai", message="the primary is down")
    llmock.call_tool("lookup-order", {"order": "A-1001"}, provider="anthropic")
    llmock.reply("Order A-1001 has shipped.", provider="anthropic")
    payload = _run("openai", "Where is A-1001?")
    step = payload["definition"]["steps"][0]
    step["fallback"] = [{"provider": "anthropic", "model": MODELS["anthropic"]}]
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(client, task_queue, payload)
        result = await handle.result()
    assert result.outputs["answer"] == "Order A-1001 has shipped."
    record = result.steps["support"]
    assert record.transcript is not None
    for turn in record.transcript["turns"]:
        answered = turn["answered_by"]
        assert (answered["provider"], answered["model"]) == ("anthropic", MODELS["anthropic"])
        (left,) = answered["skipped"]
        assert left["provider"] == "openai" and "the primary is down" in left["error"]
    served = [(r.provider, r.status) for r in llmock.requests]
    assert served == [("openai", 500), ("anthropic", 200), ("openai", 500), ("anthropic", 200)]
    summaries = await _summaries(handle)
    assert "support · agent turn 1" in summaries
    assert f"support · agent turn 2 anthropic/{MODELS['anthropic']} (fallback 1)" in summaries


async def _summaries(handle: Any) -> set[str]:
    from temporalio.converter import DataConverter

    found = set()
    for event in (await handle.fetch_history()).events:
        summary = event.user_metadata.summary
        if summary.data:
            found.add(DataConverter.default.payload_converter.from_payload(summary, str))
    return found

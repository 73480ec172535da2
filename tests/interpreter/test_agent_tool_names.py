"""The names an `agent` step offers its tools under: OpenAI and Anthropic reject a request
whose tool name is not ``^[A-Za-z0-9_-]{1,64}$`` (a 400 for the whole turn).

An MCP server names its tools itself, at run time: a name a model cannot call is offered
made safe (``files.read`` → ``files_read``, cut to 64) and the server is still called by
its own name; two that become one fail the step. An activity tool's name is checked
before the run (tests/interpreter/test_agent_validation.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from llmock.pytest_plugin import LLMock
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities import WorkerConfig
from activities.agent_turn import AgentTurnActivities
from activities.providers import Providers
from activities.providers.config import McpServerSettings
from interpreter.contract import ACTIVITY_AGENT_TURN, ACTIVITY_MCP, ACTIVITY_MCP_LIST_TOOLS
from interpreter.fields import Defaults, RetryPolicy
from interpreter.steps._agent_tools import McpTool, resolve_tools
from interpreter.steps._kind import RunFacts, Runtime, StepFailure
from interpreter.steps.agent import AgentStep, _Loop
from interpreter.steps.mcp import McpToolInfo, McpTools, McpToolsRequest
from tests.conftest import WorkerFactory
from tests.fakes.mcp_tools import LONG_NAME, serve_http
from tests.helpers.providers import ANTHROPIC_KEY, OPENAI_KEY, config_for
from tests.helpers.runs import failure_of, start_run
from tests.interpreter.test_agent import LOOKUP_ORDER, agent, run_input

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACCEPTED = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What OpenAI and Anthropic accept as a tool name (matched whole)."""


@dataclass
class _Listing:
    """The little of a workflow's `Runtime` that resolving tools uses: the run's facts
    and the tool-listing activity, answered with the given MCP tool names."""

    names: dict[str, list[str]]
    facts: RunFacts
    label: str = "support"

    async def activity(self, name: str, payload: Any, **_: Any) -> McpTools:
        assert name == ACTIVITY_MCP_LIST_TOOLS and isinstance(payload, McpToolsRequest)
        tools = [
            McpToolInfo(name=n, input_schema={"type": "object"}) for n in self.names[payload.server]
        ]
        return McpTools(server=payload.server, tools=tools)


def _runtime(**names: list[str]) -> Runtime:
    facts = RunFacts(
        defaults=Defaults(),
        offline=False,
        workflow_id="w",
        run_id="r",
        library={"./tools/look up.order.yaml": LOOKUP_ORDER},
    )
    return cast(Runtime, _Listing(names, facts))


async def _resolve(tools: list[dict[str, Any]], runtime: Runtime) -> dict[str, Any]:
    step = AgentStep.model_validate(
        {"id": "support", "type": "agent", "prompt": "hi", "max_turns": 2, "tools": tools}
    )
    return await resolve_tools(step.tools, runtime, timeout=10, retry=RetryPolicy())


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_tools_sent_to_a_provider_have_only_names_models_accept(
    llmock: LLMock, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    """Tools of every kind, with names a server or a file gives them, resolved as a run
    does, put in a turn request as the loop does, and sent by the activity to a server
    that speaks the vendor's wire format: every name in the request body is accepted."""
    runtime = _runtime(files=["files.read", LONG_NAME, "get-time", "résumé lookup", ""])
    step = AgentStep.model_validate(
        {
            "id": "support",
            "type": "agent",
            "provider": provider,
            "model": "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest",
            "prompt": "hi",
            "max_turns": 2,
            "tools": [
                {"mcp": "files"},
                {"workflow": "./tools/look up.order.yaml"},
                {"activity": "refund_customer"},
            ],
        }
    )
    tools = await resolve_tools(step.tools, runtime, timeout=10, retry=RetryPolicy())
    expected = ["files_read", LONG_NAME[:64], "get-time", "r_sum__lookup", "_"]
    expected += ["look_up_order", "refund_customer"]
    assert list(tools) == expected
    # the server's own names are kept to call them by
    assert [t.mcp_name for t in tools.values() if isinstance(t.how, McpTool)] == [
        "files.read",
        LONG_NAME,
        "get-time",
        "résumé lookup",
        "",
    ]
    request = _Loop(step, {"prompt": "hi"}, runtime, tools)._request(1)
    assert [t.name for t in request.step.tools] == expected
    llmock.tool_mode("off")
    llmock.reply("fine", provider=provider)
    env = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
    providers = Providers(config_for(llmock), env=env)
    try:
        answer = await ActivityEnvironment().run(AgentTurnActivities(providers).turn, request)
    finally:
        await providers.aclose()
    assert answer.text == "fine"
    (sent,) = [r for r in llmock.requests if r.provider == provider]
    assert sent.status == 200
    names = [t["function"]["name"] if "function" in t else t["name"] for t in sent.body["tools"]]
    assert names == expected
    assert all(ACCEPTED.fullmatch(name) for name in names), names


async def test_mcp_tools_that_become_one_name_fail_the_step() -> None:
    runtime = _runtime(files=["files.read", "files_read", "echo"], other=["echo"])
    with pytest.raises(StepFailure) as caught:
        await _resolve([{"mcp": "files"}], runtime)
    assert str(caught.value) == (
        "two tools are named `files_read` (MCP `files` tool `files.read` made safe for "
        "models): give one a `name:` (MCP: `allow:`)"
    )
    # a plain clash names no renaming
    with pytest.raises(StepFailure) as caught:
        await _resolve([{"mcp": "files", "allow": ["echo"]}, {"mcp": "other"}], runtime)
    assert str(caught.value) == "two tools are named `echo`: give one a `name:` (MCP: `allow:`)"
    # `allow:` names the server's tools: each of the two alone is fine
    for allowed in ("files.read", "files_read"):
        tools = await _resolve([{"mcp": "files", "allow": [allowed]}], runtime)
        assert [(n, t.mcp_name) for n, t in tools.items()] == [("files_read", allowed)]
    # and the safe name is not a server's name
    with pytest.raises(StepFailure) as caught:
        await _resolve([{"mcp": "other", "allow": ["files_read"]}], runtime)
    assert "MCP server `other` has no tool `files_read` (its tools: echo)" in str(caught.value)


async def test_an_mcp_tool_with_a_dotted_name_is_offered_safe_and_called_by_its_own(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    """The official SDK's server (tests/fakes/mcp_tools.py) over Streamable HTTP names its
    tools `files.read` and a 68-character name: the scripted model sees and calls them
    made safe, the server receives its own names, and their results go back."""
    short = LONG_NAME[:64]
    step = agent(
        [
            {
                "tool_calls": [
                    {"name": "files_read", "arguments": {"path": "a.txt"}},
                    {"name": short, "arguments": {"period": "Q3"}},
                ]
            },
            {"text": "read"},
        ],
        tools=[{"mcp": "files", "allow": ["files.read", LONG_NAME]}],
    )
    async with serve_http(tmp_path) as url:
        config = WorkerConfig(mcp_servers={"files": McpServerSettings(url=url)})
        async with worker_for(config=config):
            handle = await start_run(client, task_queue, run_input(step))
            result = await handle.result()
    assert result.outputs["answer"] == "read"
    transcript = result.steps["support"].transcript
    assert transcript is not None
    calls = transcript["turns"][0]["tool_calls"]
    assert [c["name"] for c in calls] == ["files_read", short]
    assert not any(c["is_error"] for c in calls), calls
    # each answer comes from the tool registered under the server's own name
    assert calls[0]["result"] == {
        "tool": "files.read",
        "path": "a.txt",
        "text": "contents of a.txt",
    }
    assert calls[1]["result"] == {"tool": LONG_NAME, "period": "Q3"}
    told = [m["content"] for m in transcript["messages"] if m["role"] == "tool"]
    assert "contents of a.txt" in told[0] and "Q3" in told[1]
    # in the history: the model was offered the safe names, the server asked by its own
    offered, asked = await _inputs(handle)
    assert offered == [["files_read", short], ["files_read", short]]  # both turns
    assert sorted(asked) == sorted(["files.read", LONG_NAME])


async def test_mcp_tools_that_become_one_name_fail_the_run(
    client: Client, task_queue: str, worker_for: WorkerFactory, tmp_path: Path
) -> None:
    step = agent([{"text": "never"}], tools=[{"mcp": "files"}])
    async with serve_http(tmp_path) as url:
        config = WorkerConfig(mcp_servers={"files": McpServerSettings(url=url)})
        async with worker_for(config=config):
            error = await failure_of(client, task_queue, run_input(step))
    assert (
        "step `support` failed: two tools are named `files_read` (MCP `files` tool "
        "`files.read` made safe for models): give one a `name:` (MCP: `allow:`)"
    ) in error


async def _inputs(handle: Any) -> tuple[list[list[str]], list[str]]:
    """From a run's history: the tool names each agent turn offered, and the tool names
    the MCP calls asked their server for."""
    offered: list[list[str]] = []
    asked: list[str] = []
    for event in (await handle.fetch_history()).events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attributes = event.activity_task_scheduled_event_attributes
        (payload,) = attributes.input.payloads
        body = json.loads(payload.data)
        if attributes.activity_type.name == ACTIVITY_AGENT_TURN:
            offered.append([t["name"] for t in body["step"]["tools"]])
        elif attributes.activity_type.name == ACTIVITY_MCP:
            asked.append(body["step"]["tool"])
    return offered, asked

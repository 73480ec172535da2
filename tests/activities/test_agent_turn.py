"""The `agent` step's model turn against independent servers that speak the vendors' wire
formats: LLMock (PyPI) and aimock (npm ``@copilotkit/aimock``).

Each test plays a two-turn conversation through the activity itself (the SDK's
``ActivityEnvironment``): turn 1 asks two tools at once, the tools' results go back,
turn 2 answers. The servers' request journals show what we sent: the tools, the
assistant's tool calls, and the results as ``role: tool`` messages (OpenAI) or one user
message of ``tool_result`` blocks (Anthropic).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from llmock.pytest_plugin import LLMock
from llmock.scenarios import Reply
from llmock.scenarios import ToolCall as ScriptedCall
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import ActivitySettings, WorkerActivities
from activities.agent_turn import AgentTurnActivities
from activities.providers import Providers
from activities.providers.config import load_worker_config
from activities.providers.openai import _StreamedCalls
from interpreter.contract import ACTIVITY_AGENT_TURN, ALL_ACTIVITY_NAMES
from interpreter.conversation import (
    AgentMessage,
    AgentTurn,
    AgentTurnCall,
    AgentTurnRequest,
    ToolCall,
    ToolSpec,
)
from tests.helpers.aimock import aimock_server
from tests.helpers.providers import ANTHROPIC_KEY, OPENAI_KEY, Vendor, config_for

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
ENV = {"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
QUESTION = "Where is invoice 42, and who is its customer?"
TOOLS = [
    ToolSpec(
        name="get_invoice",
        description="Find an invoice by number",
        parameters={
            "type": "object",
            "properties": {"number": {"type": "integer"}},
            "required": ["number"],
        },
    ),
    ToolSpec(
        name="get_customer",
        description="A customer by id",
        parameters={"type": "object", "properties": {"id": {"type": "string"}}},
    ),
]
RESULTS = {"get_invoice": '{"status": "paid"}', "get_customer": '{"name": "Ada"}'}
ANSWER = "Invoice 42 is paid; its customer is Ada."


async def _turn(
    vendor: Vendor,
    provider: str,
    turn: int,
    messages: list[AgentMessage],
    *,
    stream: bool,
    **settings: Any,
) -> AgentTurn:
    """One turn through the activity; ``settings`` are the provider's (``headers``, ...)."""
    providers = Providers(config_for(vendor, **settings), env=ENV)
    try:
        return await _run(providers, provider, turn, messages, stream=stream)
    finally:
        await providers.aclose()


async def _run(
    providers: Providers,
    provider: str,
    turn: int,
    messages: list[AgentMessage],
    *,
    stream: bool,
    offline: bool = False,
    **call: Any,
) -> AgentTurn:
    request = AgentTurnRequest(
        offline=offline,
        step=AgentTurnCall(
            id="support",
            provider=provider,
            model=MODELS[provider],
            turn=turn,
            system="You answer billing questions. Use the tools.",
            messages=messages,
            tools=TOOLS,
            stream=stream,
            **call,
        ),
    )
    result: AgentTurn = await ActivityEnvironment().run(
        AgentTurnActivities(providers).turn, request
    )
    return result


def _results_of(first: AgentTurn) -> list[AgentMessage]:
    """The conversation after turn 1: the question, the assistant's calls, their results."""
    return [
        AgentMessage(role="user", content=QUESTION),
        AgentMessage(role="assistant", content=first.text, tool_calls=first.tool_calls),
        *(
            AgentMessage(role="tool", tool_call_id=c.id, name=c.name, content=RESULTS[c.name])
            for c in first.tool_calls
        ),
    ]


def _assert_two_calls(first: AgentTurn, id_prefix: str) -> None:
    assert [c.name for c in first.tool_calls] == ["get_invoice", "get_customer"]
    assert [json.loads(c.arguments) for c in first.tool_calls] == [{"number": 42}, {"id": "c-7"}]
    ids = [c.id for c in first.tool_calls]
    assert all(i.startswith(id_prefix) for i in ids) and len(set(ids)) == 2, ids
    assert first.finish_reason in ("tool_calls", "tool_use")
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.attempt == 1


def _assert_openai_request(body: dict[str, Any], first: AgentTurn) -> None:
    """The second request: tools as functions, the calls, one ``role: tool`` per result."""
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_invoice",
            "description": "Find an invoice by number",
            "parameters": TOOLS[0].parameters,
        },
    }
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    assistant = body["messages"][2]
    assert [c["id"] for c in assistant["tool_calls"]] == [c.id for c in first.tool_calls]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "get_invoice",
        "get_customer",
    ]
    assert all(c["type"] == "function" for c in assistant["tool_calls"])
    assert [(m["tool_call_id"], m["content"]) for m in body["messages"][3:]] == [
        (c.id, RESULTS[c.name]) for c in first.tool_calls
    ]


def _assert_anthropic_request(body: dict[str, Any], first: AgentTurn) -> None:
    """The second request: tools with ``input_schema``, ``tool_use`` blocks, and both
    results in ONE user message of ``tool_result`` blocks."""
    assert body["tools"][0] == {
        "name": "get_invoice",
        "description": "Find an invoice by number",
        "input_schema": TOOLS[0].parameters,
    }
    assert body["system"] == "You answer billing questions. Use the tools."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    uses = body["messages"][1]["content"]
    assert [(b["type"], b["id"], b["name"]) for b in uses] == [
        ("tool_use", c.id, c.name) for c in first.tool_calls
    ]
    assert [b["input"] for b in uses] == [{"number": 42}, {"id": "c-7"}]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": c.id, "content": RESULTS[c.name], "is_error": False}
        for c in first.tool_calls
    ]


# -- LLMock ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_llmock_two_parallel_tool_calls_then_the_answer(
    llmock: LLMock, provider: str, stream: bool
) -> None:
    llmock.tool_mode("off")  # only what the script says
    llmock.add(
        Reply(
            tool_calls=(
                ScriptedCall("get_invoice", {"number": 42}),
                ScriptedCall("get_customer", {"id": "c-7"}),
            )
        )
    )
    llmock.reply(ANSWER)
    first = await _turn(
        llmock, provider, 1, [AgentMessage(role="user", content=QUESTION)], stream=stream
    )
    _assert_two_calls(first, "call_" if provider == "openai" else "toolu")
    assert first.text == ""
    final = await _turn(llmock, provider, 2, _results_of(first), stream=stream)
    assert final.text == ANSWER
    assert final.tool_calls == []

    sent = [r.body for r in llmock.requests]
    assert len(sent) == 2
    assert all(bool(b.get("stream")) is stream for b in sent)
    if provider == "openai":
        assert [m["role"] for m in sent[0]["messages"]] == ["system", "user"]
        _assert_openai_request(sent[1], first)
    else:
        _assert_anthropic_request(sent[1], first)


@pytest.mark.parametrize(
    ("provider", "stream"), [("openai", False), ("openai", True), ("anthropic", True)]
)
async def test_malformed_tool_arguments_are_passed_through_as_written(
    llmock: LLMock, provider: str, stream: bool
) -> None:
    """The workflow, not the activity, tells the model its arguments are not JSON.
    (A whole Anthropic reply cannot carry them: its ``input`` is an object.)"""
    llmock.tool_mode("off")
    llmock.add(Reply(tool_calls=(ScriptedCall("get_invoice", {"number": 42}),)))
    llmock.break_tool_call("malformed_arguments")
    first = await _turn(
        llmock, provider, 1, [AgentMessage(role="user", content=QUESTION)], stream=stream
    )
    [call] = first.tool_calls
    assert call.name == "get_invoice"
    written = '{"number": 42}'
    assert call.arguments == written[: len(written) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(call.arguments)


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (429, True), (401, False), (400, False)]
)
async def test_http_errors_are_classified_as_for_llm_steps(
    llmock: LLMock, status: int, retryable: bool
) -> None:
    llmock.fail(status, message="the vendor's own words", provider="openai")
    with pytest.raises(ApplicationError) as failed:
        await _turn(
            llmock, "openai", 1, [AgentMessage(role="user", content=QUESTION)], stream=False
        )
    # the same types as the `llm` step: a non-retryable 4xx is a rejected request
    assert failed.value.type == ("ProviderError" if retryable else "ProviderRejected")
    assert failed.value.non_retryable is not retryable
    assert f"HTTP {status}" in str(failed.value)
    assert "the vendor's own words" in str(failed.value)
    assert OPENAI_KEY not in str(failed.value)


async def test_response_format_and_usage_estimate_when_the_stream_reports_none(
    llmock: LLMock,
) -> None:
    """A schema for the final answer goes as the `llm` step sends it; a stream without a
    usage chunk gets an estimate, marked so (the run's budget must still see it)."""
    llmock.tool_mode("off")
    llmock.reply('{"status": "paid"}')
    config = config_for(llmock, stream_usage=False)
    providers = Providers(config, env=ENV)
    schema = {"type": "object", "properties": {"status": {"type": "string"}}}
    try:
        final = await _run(
            providers,
            "openai",
            1,
            [AgentMessage(role="user", content=QUESTION)],
            stream=True,
            response_format={"name": "status", "json_schema": schema},
        )
    finally:
        await providers.aclose()
    assert json.loads(final.text) == {"status": "paid"}
    assert final.usage.estimated and final.usage.input_tokens > 0
    sent = llmock.requests[0].body
    assert "stream_options" not in sent
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "status", "schema": schema, "strict": False},
    }


async def test_offline_turns_play_the_script_through_the_activity() -> None:
    providers = Providers(load_worker_config(env={}), env={})
    turn = await _run(
        providers,
        "openai",
        1,
        [AgentMessage(role="user", content=QUESTION)],
        stream=False,
        offline=True,
        mock_turns=[{"tool_calls": [{"name": "get_invoice", "arguments": {"number": 42}}]}],
    )
    assert turn.tool_calls == [
        ToolCall(id="mock_call_1_1", name="get_invoice", arguments='{"number": 42}')
    ]
    assert turn.model == "offline/gpt-4o-mini"
    assert turn.usage.cost_usd == 0
    with pytest.raises(ApplicationError, match="mock_turns has 1 turn") as beyond:
        await _run(
            providers, "openai", 2, [], stream=False, offline=True, mock_turns=[{"text": "done"}]
        )
    assert beyond.value.non_retryable


# -- aimock ---------------------------------------------------------------------------

AIMOCK_FIXTURES = {
    "fixtures": [
        {
            "match": {"hasToolResult": False},
            "response": {
                "toolCalls": [
                    {"id": "call_inv", "name": "get_invoice", "arguments": '{"number": 42}'},
                    {"id": "call_cus", "name": "get_customer", "arguments": '{"id": "c-7"}'},
                ]
            },
        },
        {"match": {"hasToolResult": True}, "response": {"content": ANSWER}},
    ]
}


class _Aimock:
    def __init__(self, url: str) -> None:
        self.url = url

    def base_url(self, provider: str) -> str:
        return f"{self.url}/v1" if provider == "openai" else self.url

    def journal(self, test_id: str) -> list[dict[str, Any]]:
        """The requests that carried ``X-Test-Id: test_id``, oldest first."""
        entries: list[dict[str, Any]] = httpx.get(
            f"{self.url}/__aimock/journal", params={"testId": test_id}
        ).json()
        return entries


@pytest.fixture(scope="module")
def aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Aimock]:
    with aimock_server(AIMOCK_FIXTURES["fixtures"], tmp_path_factory.mktemp("aimock")) as url:
        yield _Aimock(url)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_aimock_two_parallel_tool_calls_then_the_answer(
    aimock: _Aimock, provider: str, stream: bool
) -> None:
    test_id = f"{provider}-{stream}"
    tagged = {"headers": {"X-Test-Id": test_id}}
    first = await _turn(
        aimock, provider, 1, [AgentMessage(role="user", content=QUESTION)], stream=stream, **tagged
    )
    _assert_two_calls(first, "call_")
    assert [c.id for c in first.tool_calls] == ["call_inv", "call_cus"]
    final = await _turn(aimock, provider, 2, _results_of(first), stream=stream, **tagged)
    assert final.text == ANSWER
    assert final.tool_calls == []

    sent = [e["body"] for e in aimock.journal(test_id)]
    assert len(sent) == 2
    if provider == "openai":
        _assert_openai_request(sent[1], first)
    else:
        # aimock journals an Anthropic request as it understood it, in OpenAI's shape: the
        # two tool_result blocks of one user message read as two `role: tool` results
        tool_messages = [m for m in sent[1]["messages"] if m["role"] == "tool"]
        assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [
            ("call_inv", RESULTS["get_invoice"]),
            ("call_cus", RESULTS["get_customer"]),
        ]
        assert [t["function"]["name"] for t in sent[1]["tools"]] == ["get_invoice", "get_customer"]


async def test_every_worker_registers_the_turn_activity_and_every_contract_name() -> None:
    activities = WorkerActivities(ActivitySettings())
    try:
        names = {activity._Definition.must_from_callable(fn).name for fn in activities.all()}
    finally:
        await activities.aclose()
    assert ACTIVITY_AGENT_TURN in names
    assert set(ALL_ACTIVITY_NAMES) <= names


async def test_anthropic_gets_error_results_and_the_text_beside_tool_use(llmock: LLMock) -> None:
    """A failed tool's result says ``is_error``; the assistant's words stay before its
    ``tool_use`` blocks; arguments that were not JSON go back under ``_raw`` (Anthropic's
    ``input`` must be an object); a user message after the results stays its own."""
    llmock.tool_mode("off")
    llmock.reply(ANSWER)
    bad = ToolCall(id="toolu_1", name="get_invoice", arguments='{"number": 4')
    good = ToolCall(id="toolu_2", name="get_customer", arguments='{"id": "c-7"}')
    messages = [
        AgentMessage(role="user", content=QUESTION),
        AgentMessage(role="assistant", content="Let me look.", tool_calls=[bad, good]),
        AgentMessage(role="tool", tool_call_id="toolu_1", content="not JSON", is_error=True),
        AgentMessage(role="tool", tool_call_id="toolu_2", content=RESULTS["get_customer"]),
        AgentMessage(role="user", content="And quickly, please."),
    ]
    final = await _turn(llmock, "anthropic", 2, messages, stream=False)
    assert final.text == ANSWER
    sent = llmock.requests[0].body["messages"]
    assert sent[1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "get_invoice",
            "input": {"_raw": '{"number": 4'},
        },
        {"type": "tool_use", "id": "toolu_2", "name": "get_customer", "input": {"id": "c-7"}},
    ]
    assert sent[2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": "not JSON",
                "is_error": True,
            },
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": RESULTS["get_customer"],
                "is_error": False,
            },
        ],
    }
    assert sent[3] == {"role": "user", "content": "And quickly, please."}


async def test_a_key_the_model_echoes_is_masked_in_the_turn(llmock: LLMock) -> None:
    llmock.tool_mode("off")
    llmock.add(
        Reply(
            text=f"the key is {OPENAI_KEY}",
            tool_calls=(ScriptedCall("get_customer", {"id": OPENAI_KEY}),),
        )
    )
    turn = await _turn(
        llmock, "openai", 1, [AgentMessage(role="user", content=QUESTION)], stream=False
    )
    assert OPENAI_KEY[:12] not in turn.text and "***" in turn.text
    assert OPENAI_KEY[:12] not in turn.tool_calls[0].arguments


def test_streamed_calls_without_index_are_told_apart_by_id() -> None:
    """Some OpenAI-compatible servers stream whole tool calls with no ``index``."""
    calls = _StreamedCalls()
    for fragment in (
        {"id": "a", "function": {"name": "get_invoice", "arguments": '{"number": 42}'}},
        {"id": "b", "function": {"name": "get_customer", "arguments": '{"id":'}},
        {"function": {"arguments": ' "c-7"}'}},
    ):
        calls.add(fragment)
    assert calls.done() == [
        ToolCall(id="a", name="get_invoice", arguments='{"number": 42}'),
        ToolCall(id="b", name="get_customer", arguments='{"id": "c-7"}'),
    ]

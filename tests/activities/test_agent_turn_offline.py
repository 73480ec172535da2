"""The offline provider plays an `agent` step's ``mock_turns`` script, turn by turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activities.providers.offline import OfflineProvider
from interpreter.conversation import AgentMessage, AgentTurnCall, MockTurn
from interpreter.errors import StepError


def _call(turn: int, mock_turns: list[dict[str, Any]], **extra: Any) -> AgentTurnCall:
    return AgentTurnCall(
        id="support",
        provider="openai",
        model="gpt-4o-mini",
        turn=turn,
        system="You answer billing questions.",
        messages=[AgentMessage(role="user", content="Where is invoice 42?")],
        mock_turns=[MockTurn.model_validate(t) for t in mock_turns],
        **extra,
    )


SCRIPT = [
    {
        "tool_calls": [
            {"name": "get_invoice", "arguments": {"number": 42}},
            {"name": "get_customer", "arguments": {"id": "c-7"}},
        ]
    },
    {"tool_calls": [{"name": "get_invoice", "arguments": '{"number": 4'}]},
    {"text": {"answer": "paid", "invoice": 42}},
    {"text": "Invoice 42 was paid on 3 May."},
]


async def test_a_scripted_turn_asks_for_its_tool_calls_with_stable_ids() -> None:
    reply = await OfflineProvider().complete_turn(_call(1, SCRIPT))
    assert [(c.id, c.name) for c in reply.tool_calls] == [
        ("mock_call_1_1", "get_invoice"),
        ("mock_call_1_2", "get_customer"),
    ]
    assert [json.loads(c.arguments) for c in reply.tool_calls] == [{"number": 42}, {"id": "c-7"}]
    assert reply.text == ""
    assert reply.finish_reason == "tool_calls"
    assert reply.model == "offline/gpt-4o-mini"


async def test_raw_string_arguments_are_passed_as_written_even_when_not_json() -> None:
    reply = await OfflineProvider().complete_turn(_call(2, SCRIPT))
    assert reply.tool_calls[0].arguments == '{"number": 4'
    assert reply.tool_calls[0].id == "mock_call_2_1"


async def test_a_mapping_text_is_the_json_of_a_structured_answer() -> None:
    reply = await OfflineProvider().complete_turn(_call(3, SCRIPT))
    assert json.loads(reply.text) == {"answer": "paid", "invoice": 42}
    assert reply.tool_calls == []
    assert reply.finish_reason == "stop"


async def test_a_text_turn_is_the_final_answer_and_usage_counts_words() -> None:
    reply = await OfflineProvider().complete_turn(_call(4, SCRIPT))
    assert reply.text == "Invoice 42 was paid on 3 May."
    assert reply.tool_calls == []
    assert reply.output_tokens == 7
    # the system prompt (4 words) and the user message (4 words)
    assert reply.input_tokens == 8


async def test_without_a_script_the_turn_echoes_the_last_user_message_honestly() -> None:
    reply = await OfflineProvider().complete_turn(_call(1, []))
    assert reply.text == "[offline gpt-4o-mini] Where is invoice 42?"
    assert reply.tool_calls == []


async def test_a_turn_beyond_the_script_is_a_clear_error() -> None:
    with pytest.raises(
        StepError, match="mock_turns has 4 turn\\(s\\) and the agent asked for turn 5"
    ):
        await OfflineProvider().complete_turn(_call(5, SCRIPT))
